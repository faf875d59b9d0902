//! Labels each record with the site it belongs to. A site is a small
//! integer ([`SiteId`]) into a capped [`SiteTable`]; keys (Traefik router
//! and service, Host header, the PHP script's path, Kubernetes namespace,
//! FPM pool, file path) are turned into site names once per distinct key
//! and cached, so the per-line cost is one hash lookup. Keys that match no
//! rule, and new sites beyond the cap, go to [`SiteId::UNKNOWN`] and are
//! counted.
//!
//! One site, one name: a key's site name depends only on the key (its
//! pattern, the mapping table, the canonical form of [`table`]), so the
//! same site seen through Traefik, nginx, FPM and WordPress is one site
//! whichever line comes first. When a line's own key and its file's
//! namespace name different sites, the naming schemes disagree (say the
//! Host `site042.example.com` and the namespace `site042` without
//! `domains: [example.com]`): that is counted and the first pairs kept, so
//! the operator can add a domain or a mapping.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use regex::bytes::Regex;

use crate::record::Record;

mod config;
mod table;

use config::KEY_KINDS;
pub use config::{KeyKind, LabelConfigError, SitesConfig, StaticSite};
pub use table::{Namer, SiteTable};

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

/// How deep (in `/`-separated parts) a script path's site directory may
/// lie for its prefix to be cached; deeper ones are cached whole.
const MAX_SCRIPT_DEPTH: usize = 8;

/// How many disagreeing pairs [`Labeler::conflicts`] keeps.
const MAX_CONFLICTS_KEPT: usize = 16;

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
    /// Records whose own key named another site than their file's
    /// namespace (see [`Labeler::conflicts`]).
    pub conflicts: u64,
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
    service_re: Regex,
    path_re: Regex,
    strip_www: bool,
    auto_create: bool,
    exclude_namespaces: Vec<String>,
    ignore_names: Vec<String>,
    /// Per key kind: raw key → resolved site (`None` = key names no site).
    cache: [HashMap<Box<[u8]>, Option<SiteId>, RandomState>; KEY_KINDS],
    /// Per key kind: the mapping table's keys (normalised) → static site.
    aliases: [HashMap<Box<str>, SiteId, RandomState>; KEY_KINDS],
    max_cached_keys: usize,
    scratch: Vec<u8>,
    /// The first pairs (site of the line's key, site of its namespace)
    /// that disagreed.
    conflicts: Vec<(SiteId, SiteId)>,
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
        let service_re = compile("service_pattern", &cfg.service_pattern)?;
        let path_re = compile("path_pattern", &cfg.path_pattern)?;
        for d in &cfg.domains {
            let d2 = d.trim_matches('.');
            if d2.is_empty()
                || !d2
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
            {
                return Err(LabelConfigError::Domain(d.clone()));
            }
        }
        let namer = Namer::new(&cfg.domains, cfg.merge_dots_and_dashes);
        let mut table = SiteTable::new(cfg.max_sites, namer);
        let mut aliases: [HashMap<Box<str>, SiteId, RandomState>; KEY_KINDS] = Default::default();
        let canonical = |t: &SiteTable, name: &str| {
            t.namer()
                .canonical(name)
                .ok_or_else(|| LabelConfigError::Static(format!("{name:?} is not a site name")))
        };
        for s in &cfg.static_sites {
            let key = canonical(&table, &s.name)?;
            if table.get_canonical(&key).is_some() {
                return Err(LabelConfigError::Static(format!(
                    "site {:?} is listed twice (or is another site's alias)",
                    s.name
                )));
            }
            let id = table.insert(&s.name, key).ok_or_else(|| {
                LabelConfigError::Static(format!(
                    "more static sites than max_sites ({})",
                    cfg.max_sites
                ))
            })?;
            for a in &s.aliases {
                let key = canonical(&table, a)?;
                if table.get_canonical(&key) != Some(id) && !table.alias(key, id) {
                    return Err(LabelConfigError::Static(format!(
                        "alias {a:?} of {:?} already names another site",
                        s.name
                    )));
                }
            }
            let mut add = |kind: KeyKind, keys: &[String]| -> Result<(), LabelConfigError> {
                for k in keys {
                    let k = k.to_ascii_lowercase();
                    match aliases[kind.slot()].insert(k.clone().into(), id) {
                        Some(other) if other != id => {
                            return Err(LabelConfigError::Static(format!(
                                "{k:?} is listed for two sites"
                            )));
                        }
                        _ => {}
                    }
                }
                Ok(())
            };
            add(KeyKind::Host, &s.hosts)?;
            add(KeyKind::Router, &s.routers)?;
            add(KeyKind::Service, &s.services)?;
            add(KeyKind::Namespace, &s.namespaces)?;
            add(KeyKind::Pool, &s.pools)?;
            add(KeyKind::Script, &s.paths)?;
            add(KeyKind::Path, &s.paths)?;
        }
        Ok(Self {
            table,
            order: cfg.resolve_order.clone(),
            router_re,
            service_re,
            path_re,
            strip_www: cfg.strip_www,
            auto_create: cfg.auto_create,
            exclude_namespaces: cfg.exclude_namespaces.clone(),
            ignore_names: cfg
                .ignore_names
                .iter()
                .map(|n| n.to_ascii_lowercase())
                .collect(),
            cache: Default::default(),
            aliases,
            max_cached_keys: cfg.max_sites.saturating_mul(4),
            scratch: Vec::new(),
            conflicts: Vec::new(),
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

    /// The first (up to 16) disagreeing pairs: a line's own key named the
    /// first site, its file's namespace the second.
    pub fn conflicts(&self) -> &[(SiteId, SiteId)] {
        &self.conflicts
    }

    /// Sites that look like one site under two naming schemes: a short
    /// name and a longer one that extends it by a dashed domain
    /// (`site007` and `site007-example-com`), as when namespaces and pools
    /// are short names and hosts full ones, with no `domains` configured.
    /// At most `max` pairs (short, long), by name. Order-independent: a
    /// function of the table's names.
    pub fn split_names(&self, max: usize) -> Vec<(String, String)> {
        let mut names: Vec<&str> = self.table.iter().skip(1).map(|(_, n)| n).collect();
        names.sort_unstable();
        let mut out = Vec::new();
        for (i, short) in names.iter().enumerate() {
            let prefix = format!("{short}-");
            let from = names[i + 1..].partition_point(|n| *n < prefix.as_str()) + i + 1;
            for long in names[from..].iter().take_while(|n| n.starts_with(&prefix)) {
                // A dashed domain after the short name: at least two labels.
                if long[prefix.len()..].contains('-') {
                    out.push(((*short).to_owned(), (*long).to_owned()));
                    if out.len() >= max {
                        return out;
                    }
                }
            }
        }
        out
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
        let esc = rec.json_escaped;
        for i in 0..self.order.len() {
            let (found, own) = match self.order[i] {
                KeyKind::Router => (self.lookup(KeyKind::Router, rec.router, esc), true),
                KeyKind::Service => (self.lookup(KeyKind::Service, rec.service, esc), true),
                KeyKind::Host => (self.lookup(KeyKind::Host, rec.host, esc), true),
                KeyKind::Script => (self.lookup_script(rec.script, esc), true),
                KeyKind::Pool => (self.lookup(KeyKind::Pool, rec.pool, esc), true),
                KeyKind::Namespace => (file.namespace, false),
                KeyKind::Path => (file.path, false),
            };
            if let Some(id) = found {
                if own
                    && let Some(ns) = file.namespace
                    && ns != id
                {
                    self.conflict(id, ns);
                }
                return id;
            }
        }
        self.stats.unknown_records += 1;
        SiteId::UNKNOWN
    }

    #[cold]
    fn conflict(&mut self, own: SiteId, ns: SiteId) {
        self.stats.conflicts += 1;
        if self.conflicts.len() < MAX_CONFLICTS_KEPT && !self.conflicts.contains(&(own, ns)) {
            self.conflicts.push((own, ns));
        }
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

    /// A script path's site, cached by the directory that names it: a
    /// site has thousands of distinct script paths (every plugin file
    /// under `/var/www/site042/`), so caching whole paths would run the
    /// regex on most lines. The part up to and including the captured
    /// directory decides (`/var/www/site042/` for every path under it);
    /// paths the pattern does not match are cached whole.
    #[inline]
    fn lookup_script(&mut self, key: &[u8], escaped: bool) -> Option<SiteId> {
        if key.is_empty() {
            return None;
        }
        let cache = &self.cache[KeyKind::Script.slot()];
        for i in memchr::memchr_iter(b'/', key)
            .skip(1)
            .take(MAX_SCRIPT_DEPTH)
        {
            if let Some(hit) = cache.get(&key[..=i]) {
                return *hit;
            }
        }
        if let Some(hit) = cache.get(key) {
            return *hit;
        }
        self.resolve_script(key, escaped)
    }

    #[cold]
    fn resolve_script(&mut self, key: &[u8], escaped: bool) -> Option<SiteId> {
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
        // Where the captured directory ends, when it ends in `/` within
        // the depth the lookup scans (and the key was not escaped, so the
        // prefix is the key's own bytes).
        let prefix_end = (!std::ptr::eq(raw, &scratch[..]))
            .then(|| self.path_re.captures(raw))
            .flatten()
            .and_then(|c| c.name("site").map(|m| m.end()))
            .filter(|&end| {
                raw.get(end) == Some(&b'/')
                    && memchr::memchr_iter(b'/', &raw[..end]).count() <= MAX_SCRIPT_DEPTH
            });
        let id = self
            .site_name(KeyKind::Script, raw)
            .and_then(|name| self.resolve_name(KeyKind::Script, &name));
        self.scratch = scratch;
        let cache = &mut self.cache[KeyKind::Script.slot()];
        if cache.len() >= self.max_cached_keys {
            cache.clear();
            self.stats.cache_resets += 1;
        }
        match prefix_end {
            Some(end) => cache.insert(key[..=end].into(), id),
            None => cache.insert(key.into(), id),
        };
        id
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
        // A key that names no known site (or one beyond the cap) lets the
        // next key in `resolve_order` try; `label` counts what ends up
        // `_unknown`.
        let id = self
            .site_name(kind, raw)
            .and_then(|name| self.resolve_name(kind, &name));
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

    /// The mapping table for this kind of key, then the canonical name:
    /// an existing site, or a new one when `auto_create`.
    fn resolve_name(&mut self, kind: KeyKind, name: &str) -> Option<SiteId> {
        if let Some(id) = self.aliases[kind.slot()].get(name) {
            return Some(*id);
        }
        let key = self.table.namer().canonical(name)?;
        if self.ignore_names.contains(&key) {
            return None;
        }
        if let Some(id) = self.table.get_canonical(&key) {
            return Some(id);
        }
        if !self.auto_create {
            return None;
        }
        let display = key.clone();
        let id = self.table.insert(&display, key);
        self.stats.sites_refused += u64::from(id.is_none());
        id
    }

    /// The site name a key stands for before the canonical form, `None`
    /// when it names none.
    fn site_name(&self, kind: KeyKind, raw: &[u8]) -> Option<String> {
        let captured = |re: &Regex| -> Option<String> {
            let caps = re.captures(raw)?;
            let m = caps.name("site")?;
            let s = std::str::from_utf8(m.as_bytes()).ok()?;
            (!s.is_empty()).then(|| s.to_ascii_lowercase())
        };
        let name = match kind {
            KeyKind::Router => captured(&self.router_re),
            KeyKind::Service => captured(&self.service_re),
            KeyKind::Path | KeyKind::Script => captured(&self.path_re),
            KeyKind::Host => normalise_host(raw, self.strip_www),
            KeyKind::Namespace | KeyKind::Pool => {
                let s = std::str::from_utf8(raw).ok()?;
                let ok = s
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
                (ok && s != "-").then(|| s.to_ascii_lowercase())
            }
        }?;
        // Stock document roots and the stock FPM pool name no site.
        (!self.ignore_names.contains(&name)).then_some(name)
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
mod tests;

//! The capped table of site names, and the canonical form names are kept
//! in: one function of the name alone, so which tier's line came first
//! never decides what a site is called.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use super::{SiteId, UNKNOWN_SITE};

/// Turns a name read from any key into its canonical form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namer {
    /// Farm domains as suffixes, longest first: (`.example.com`,
    /// `-example-com`).
    domains: Vec<(String, String)>,
    /// Write `.` and `_` as `-`.
    merge: bool,
}

impl Namer {
    /// `domains` must be validated DNS names.
    pub(crate) fn new(domains: &[String], merge: bool) -> Self {
        let mut domains: Vec<(String, String)> = domains
            .iter()
            .map(|d| {
                let d = d.trim_matches('.').to_ascii_lowercase();
                (format!(".{d}"), format!("-{}", d.replace('.', "-")))
            })
            .collect();
        domains.sort_by_key(|(dot, _)| std::cmp::Reverse(dot.len()));
        Self { domains, merge }
    }

    /// Lower case, a farm domain removed (`site042.example.com` and
    /// `site042-example-com` → `site042`), `.` and `_` written `-` when
    /// merging (FPM pools are often `shop_example_org`);
    /// `None` when nothing is left.
    pub fn canonical(&self, name: &str) -> Option<String> {
        let mut s = name.to_ascii_lowercase();
        for (dot, dash) in &self.domains {
            if let Some(rest) = s
                .strip_suffix(dot.as_str())
                .or_else(|| s.strip_suffix(dash.as_str()))
                && !rest.is_empty()
            {
                s.truncate(rest.len());
                break;
            }
        }
        if self.merge && s.contains(['.', '_']) {
            s = s.replace(['.', '_'], "-");
        }
        (!s.is_empty()).then_some(s)
    }
}

/// The capped table of site names.
#[derive(Debug, Clone)]
pub struct SiteTable {
    /// Display names by id: the canonical form, or a static site's name as
    /// written.
    names: Vec<Box<str>>,
    /// Canonical names (and static sites' aliases) → id.
    by_name: HashMap<Box<str>, SiteId, RandomState>,
    max: usize,
    namer: Namer,
}

impl SiteTable {
    pub(crate) fn new(max: usize, namer: Namer) -> Self {
        let mut t = Self {
            names: Vec::new(),
            by_name: HashMap::default(),
            max,
            namer,
        };
        t.names.push(UNKNOWN_SITE.into());
        t.by_name.insert(UNKNOWN_SITE.into(), SiteId::UNKNOWN);
        t
    }

    /// How names are put in canonical form.
    pub fn namer(&self) -> &Namer {
        &self.namer
    }

    /// Adds a site called `display` under the canonical `key`, if there is
    /// room; the caller checked `key` is not taken.
    pub(crate) fn insert(&mut self, display: &str, key: String) -> Option<SiteId> {
        if self.names.len() >= self.max {
            return None;
        }
        let id = SiteId(u16::try_from(self.names.len()).ok()?);
        self.names.push(display.into());
        self.by_name.insert(key.into(), id);
        Some(id)
    }

    /// Makes the canonical `key` another name of `id`; false when it
    /// already names a site.
    pub(crate) fn alias(&mut self, key: String, id: SiteId) -> bool {
        if self.by_name.contains_key(key.as_str()) {
            return false;
        }
        self.by_name.insert(key.into(), id);
        true
    }

    /// The site of the canonical `key`.
    pub(crate) fn get_canonical(&self, key: &str) -> Option<SiteId> {
        self.by_name.get(key).copied()
    }

    /// Name of a site (`_unknown` for ids not in the table).
    pub fn name(&self, id: SiteId) -> &str {
        self.names.get(id.index()).map_or(UNKNOWN_SITE, |n| n)
    }

    /// Looks a site up by any spelling of its name: `site042`,
    /// `site042.example.com` and `site042-example-com` find the same site
    /// when `example.com` is a farm domain.
    pub fn get(&self, name: &str) -> Option<SiteId> {
        if let Some(id) = self.by_name.get(name) {
            return Some(*id);
        }
        let key = self.namer.canonical(name)?;
        self.by_name.get(key.as_str()).copied()
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

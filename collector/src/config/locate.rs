//! Where each key and value of the config was written, from serde-saphyr's
//! own locations ([`serde_saphyr::Spanned`]): the document is read once
//! more into a tree of located nodes, and a field path
//! (`tail.sources[1].include`, as serde_path_to_error and the crates'
//! validation name fields) is looked up in it. Block and flow style are
//! alike here, since the positions are the parser's.

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// A position in the text (1-based line and column, in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl Pos {
    pub(crate) fn of(loc: Location) -> Pos {
        Pos {
            line: loc.line(),
            column: loc.column(),
        }
    }
}

/// One node of the document with its position.
#[derive(Debug, Clone)]
pub struct Node {
    /// Where the value starts.
    pub at: Pos,
    pub kind: Kind,
}

/// What a node holds.
#[derive(Debug, Clone)]
pub enum Kind {
    /// Entries in written order (duplicates kept), each with the position
    /// of its key.
    Map(Vec<(String, Pos, Node)>),
    Seq(Vec<Node>),
    Scalar,
}

/// Where a field is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// Its key (for a list item, the item).
    pub key: Pos,
    /// Its value (the key's position when not `exact`).
    pub value: Pos,
    /// The whole path is written, not only an ancestor.
    pub exact: bool,
}

/// A key written twice in one mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The field path of the key.
    pub field: String,
    /// The second (or later) occurrence.
    pub at: Pos,
    /// The first.
    pub first: Pos,
}

struct Raw(Kind);

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Raw, E> {
        Ok(Raw(Kind::Scalar))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Raw, E> {
        Ok(Raw(Kind::Scalar))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Raw, E> {
        Ok(Raw(Kind::Scalar))
    }
    fn visit_i128<E>(self, _: i128) -> Result<Raw, E> {
        Ok(Raw(Kind::Scalar))
    }
    fn visit_u128<E>(self, _: u128) -> Result<Raw, E> {
        Ok(Raw(Kind::Scalar))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Raw, E> {
        Ok(Raw(Kind::Scalar))
    }
    fn visit_str<E>(self, _: &str) -> Result<Raw, E> {
        Ok(Raw(Kind::Scalar))
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<Raw, E> {
        Ok(Raw(Kind::Scalar))
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw(Kind::Scalar))
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw(Kind::Scalar))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Raw>>()? {
            items.push(node(item));
        }
        Ok(Raw(Kind::Seq(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Key>>()? {
            let value = map.next_value::<Spanned<Raw>>()?;
            entries.push((key.value.0, Pos::of(key.referenced), node(value)));
        }
        Ok(Raw(Kind::Map(entries)))
    }
}

fn node(s: Spanned<Raw>) -> Node {
    Node {
        at: Pos::of(s.referenced),
        kind: s.value.0,
    }
}

/// A mapping key as text (a number or `true` as written).
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_owned()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<Key, E> {
                Ok(Key("~".into()))
            }
            fn visit_none<E>(self) -> Result<Key, E> {
                Ok(Key("~".into()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Key, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Key("[..]".into()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Key("{..}".into()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Options for every read of the document: a duplicate key is passed on
/// (the tree reports each one; the typed read keeps the last), so one
/// duplicate does not hide every other problem.
pub(crate) fn options(duplicates: serde_saphyr::DuplicateKeyPolicy) -> serde_saphyr::Options {
    serde_saphyr::options! {
        duplicate_keys: duplicates,
    }
}

/// Reads the document's tree.
///
/// # Errors
/// The YAML syntax error (the only kind this read can meet).
pub fn tree(text: &str) -> Result<Node, serde_saphyr::Error> {
    let opts = options(serde_saphyr::DuplicateKeyPolicy::PassThrough);
    let s: Spanned<Raw> = serde_saphyr::from_str_with_options(text, opts)?;
    Ok(node(s))
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Splits `tail.sources[1].include` into its steps. serde_path_to_error's
/// `?` (an unknown place) ends the path.
pub fn steps(path: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => part.split_at(i),
            None => (part, ""),
        };
        if key == "?" {
            break;
        }
        if !key.is_empty() {
            out.push(Step::Key(key.to_owned()));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let Some((n, after)) = r.split_once(']') else {
                break;
            };
            match n.parse() {
                Ok(i) => out.push(Step::Index(i)),
                Err(_) => return out,
            }
            rest = after;
        }
    }
    out
}

impl Node {
    /// Where `path` is written: its key's position (a list item's own)
    /// and its value's. `None` when no part of it is written; when only
    /// an ancestor is (the field has its default), that ancestor's key,
    /// with `exact` false.
    pub fn find(&self, path: &str) -> Option<Found> {
        let mut node = self;
        let mut found = None;
        for step in steps(path) {
            let next = match (&node.kind, &step) {
                (Kind::Map(entries), Step::Key(k)) => entries
                    .iter()
                    .rev()
                    .find(|(name, _, _)| name == k)
                    .map(|(_, key_at, v)| (*key_at, v)),
                (Kind::Seq(items), Step::Index(i)) => items.get(*i).map(|v| (v.at, v)),
                _ => None,
            };
            match next {
                Some((key, child)) => {
                    found = Some(Found {
                        key,
                        value: child.at,
                        exact: true,
                    });
                    node = child;
                }
                None => {
                    return found.map(|f| Found {
                        value: f.key,
                        exact: false,
                        ..f
                    });
                }
            }
        }
        found
    }

    /// The field whose key is written last on `line` at or before
    /// `column` (for a problem found in the text, such as a `${VAR}`).
    pub fn field_at(&self, line: u64, column: u64) -> Option<String> {
        let mut best: Option<(Pos, String)> = None;
        self.walk_keys("", &mut |path, at| {
            if at.line == line
                && at.column <= column
                && best.as_ref().is_none_or(|(b, _)| at.column >= b.column)
            {
                best = Some((at, path.to_owned()));
            }
        });
        best.map(|(_, p)| p)
    }

    fn walk_keys(&self, path: &str, f: &mut dyn FnMut(&str, Pos)) {
        match &self.kind {
            Kind::Map(entries) => {
                for (k, at, v) in entries {
                    let field = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    f(&field, *at);
                    v.walk_keys(&field, f);
                }
            }
            Kind::Seq(items) => {
                for (i, v) in items.iter().enumerate() {
                    v.walk_keys(&format!("{path}[{i}]"), f);
                }
            }
            Kind::Scalar => {}
        }
    }

    /// Every key written twice in one mapping, in document order.
    pub fn duplicates(&self) -> Vec<Duplicate> {
        let mut out = Vec::new();
        self.walk_duplicates("", &mut out);
        out
    }

    fn walk_duplicates(&self, path: &str, out: &mut Vec<Duplicate>) {
        match &self.kind {
            Kind::Map(entries) => {
                for (i, (k, at, v)) in entries.iter().enumerate() {
                    let field = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    if let Some((_, first, _)) = entries[..i].iter().find(|(n, _, _)| n == k) {
                        out.push(Duplicate {
                            field: field.clone(),
                            at: *at,
                            first: *first,
                        });
                    }
                    v.walk_duplicates(&field, out);
                }
            }
            Kind::Seq(items) => {
                for (i, v) in items.iter().enumerate() {
                    v.walk_duplicates(&format!("{path}[{i}]"), out);
                }
            }
            Kind::Scalar => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u64, column: u64) -> Pos {
        Pos { line, column }
    }

    fn key(t: &Node, path: &str) -> Option<(Pos, bool)> {
        t.find(path).map(|f| (f.key, f.exact))
    }

    #[test]
    fn block_and_flow_style_positions() {
        let block = "# c\nsites:\n  max_sites: 5\ntail:\n  sources:\n    - include: [a]\n    - format: nginx\n      include: [\"/x/[\"]\n";
        let t = tree(block).unwrap();
        assert_eq!(key(&t, "sites.max_sites"), Some((at(3, 3), true)));
        assert_eq!(t.find("sites.max_sites").unwrap().value, at(3, 14));
        assert_eq!(key(&t, "tail.sources[1].include"), Some((at(8, 7), true)));
        assert_eq!(
            t.find("tail.sources[1].include[0]").unwrap().value,
            at(8, 17)
        );
        assert_eq!(key(&t, "tail.sources[1]"), Some((at(7, 7), true)));
        // Not written: the closest ancestor that is.
        assert_eq!(key(&t, "sites.router_pattern"), Some((at(2, 1), false)));
        assert_eq!(t.find("sites.router_pattern").unwrap().value, at(2, 1));
        assert_eq!(t.find("server.listen"), None);

        let flow = "{sites: {max_sites: 5}, tail: {sources: [{include: [a]}, {format: nginx, include: [b]}]}}";
        let t = tree(flow).unwrap();
        assert_eq!(key(&t, "sites.max_sites"), Some((at(1, 10), true)));
        assert_eq!(key(&t, "tail.sources[1].include"), Some((at(1, 74), true)));
    }

    #[test]
    fn duplicates_are_all_found() {
        let t = tree("a:\n  x: 1\n  x: 2\nb: 1\nb: [1]\n").unwrap();
        let d = t.duplicates();
        assert_eq!(
            d,
            [
                Duplicate {
                    field: "a.x".into(),
                    at: at(3, 3),
                    first: at(2, 3)
                },
                Duplicate {
                    field: "b".into(),
                    at: at(5, 1),
                    first: at(4, 1)
                },
            ]
        );
        // The last one counts, as in the typed read.
        assert_eq!(key(&t, "b"), Some((at(5, 1), true)));
    }

    #[test]
    fn steps_of_paths() {
        assert_eq!(
            steps("tail.sources[1].include[0]"),
            [
                Step::Key("tail".into()),
                Step::Key("sources".into()),
                Step::Index(1),
                Step::Key("include".into()),
                Step::Index(0)
            ]
        );
        assert_eq!(steps("sites.?"), [Step::Key("sites".into())]);
    }
}

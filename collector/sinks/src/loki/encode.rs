//! The Loki push body written by hand, straight from borrowed records into
//! per-stream buffers: no allocation per line, one copy of each line's
//! bytes. Wire format of [`super::proto`] (protobuf encoding rules:
//! <https://protobuf.dev/programming-guides/encoding/>).

use super::proto::{EntryAdapter, PushRequest};

/// Wire type 2 (length-delimited) tag of `field`.
const fn tag_len(field: u8) -> u8 {
    (field << 3) | 2
}

/// Bytes of `v` as a varint.
pub(crate) fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field's full size for a payload of `n` bytes.
fn field_len(n: usize) -> usize {
    1 + varint_len(n as u64) + n
}

fn put_bytes(out: &mut Vec<u8>, field: u8, b: &[u8]) {
    out.push(tag_len(field));
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// The `google.protobuf.Timestamp` of `ts_ns`, as `(seconds, nanos)`.
fn split_ts(ts_ns: i64) -> (i64, i32) {
    (
        ts_ns.div_euclid(1_000_000_000),
        ts_ns.rem_euclid(1_000_000_000) as i32,
    )
}

fn ts_body_len(secs: i64, nanos: i32) -> usize {
    let mut n = 0;
    if secs != 0 {
        n += 1 + varint_len(secs as u64);
    }
    if nanos != 0 {
        n += 1 + varint_len(nanos as u64);
    }
    n
}

/// Appends one `StreamAdapter.entries` field (tag, length, `EntryAdapter`)
/// to `out`. `meta` are `(name, value)` pairs. `line` must be UTF-8 (the
/// proto field is a `string`).
pub(crate) fn put_entry<'m>(
    out: &mut Vec<u8>,
    ts_ns: i64,
    line: &str,
    meta: impl Iterator<Item = (&'m str, &'m str)> + Clone,
) {
    let (secs, nanos) = split_ts(ts_ns);
    let ts_len = ts_body_len(secs, nanos);
    let mut body = field_len(ts_len) + field_len(line.len());
    for (k, v) in meta.clone() {
        body += field_len(field_len(k.len()) + field_len(v.len()));
    }
    out.push(tag_len(2));
    put_varint(out, body as u64);
    out.push(tag_len(1));
    put_varint(out, ts_len as u64);
    if secs != 0 {
        out.push(1 << 3);
        put_varint(out, secs as u64);
    }
    if nanos != 0 {
        out.push(2 << 3);
        put_varint(out, nanos as u64);
    }
    put_bytes(out, 2, line.as_bytes());
    for (k, v) in meta {
        out.push(tag_len(3));
        put_varint(out, (field_len(k.len()) + field_len(v.len())) as u64);
        put_bytes(out, 1, k.as_bytes());
        put_bytes(out, 2, v.as_bytes());
    }
}

/// Appends one `PushRequest.streams` field: the labels, then the entries
/// already encoded by [`put_entry`], taken from `entries` at `ranges` in
/// that order.
pub(crate) fn put_stream(
    out: &mut Vec<u8>,
    labels: &str,
    entries: &[u8],
    ranges: impl Iterator<Item = (u32, u32)> + Clone,
) {
    let body =
        field_len(labels.len()) + ranges.clone().map(|(a, b)| (b - a) as usize).sum::<usize>();
    out.push(tag_len(1));
    put_varint(out, body as u64);
    put_bytes(out, 1, labels.as_bytes());
    for (a, b) in ranges {
        out.extend_from_slice(&entries[a as usize..b as usize]);
    }
}

/// Appends a label value escaped as Loki's (and Prometheus') label
/// strings want it: `\`, `"` and newlines escaped.
pub(crate) fn put_label_value(out: &mut String, v: &str) {
    if memchr::memchr3(b'\\', b'"', b'\n', v.as_bytes()).is_none() {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The JSON push body of a request (`encoding: json`): Loki's
/// `{"streams":[{"stream":{..},"values":[["<ns>","<line>",{..}]]}]}`.
pub fn to_json(req: &PushRequest) -> Vec<u8> {
    use serde_json::{Map, Value, json};
    let streams: Vec<Value> = req
        .streams
        .iter()
        .map(|s| {
            let values: Vec<Value> = s.entries.iter().map(json_entry).collect();
            json!({ "stream": parse_labels(&s.labels), "values": values })
        })
        .collect();
    let mut root = Map::new();
    root.insert("streams".into(), Value::Array(streams));
    serde_json::to_vec(&Value::Object(root)).unwrap_or_default()
}

fn json_entry(e: &EntryAdapter) -> serde_json::Value {
    let mut v = vec![
        serde_json::Value::String(e.ts_ns().to_string()),
        serde_json::Value::String(e.line.clone()),
    ];
    if !e.structured_metadata.is_empty() {
        let m: serde_json::Map<String, serde_json::Value> = e
            .structured_metadata
            .iter()
            .map(|p| (p.name.clone(), serde_json::Value::String(p.value.clone())))
            .collect();
        v.push(serde_json::Value::Object(m));
    }
    serde_json::Value::Array(v)
}

/// The pairs of a label string `{a="x", b="y"}` as written by this
/// module.
pub fn parse_labels(s: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    let body = s.trim().trim_start_matches('{').trim_end_matches('}');
    let mut rest = body;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].trim().trim_start_matches(',').trim();
        let mut val = String::new();
        let mut chars = rest[eq + 2..].char_indices();
        let mut end = rest.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => val.push('\n'),
                    Some((_, c)) => val.push(c),
                    None => {}
                },
                '"' => {
                    end = eq + 2 + i + 1;
                    break;
                }
                c => val.push(c),
            }
        }
        out.insert(name.to_owned(), serde_json::Value::String(val));
        rest = &rest[end.min(rest.len())..];
    }
    out
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::super::proto::{LabelPairAdapter, Timestamp};
    use super::*;

    #[test]
    fn hand_encoding_decodes_with_the_schema() {
        let mut entries = Vec::new();
        let mut order = Vec::new();
        for (ts, line, meta) in [
            (
                1_700_000_000_123_456_789i64,
                "GET / 200",
                vec![("path", "/"), ("status", "200")],
            ),
            (0, "", vec![]),
            (-1_500_000_000, "before 1970", vec![("pod", "p")]),
            (1_000_000_000, &"x".repeat(300)[..], vec![]),
        ] {
            let a = entries.len() as u32;
            put_entry(&mut entries, ts, line, meta.iter().copied());
            order.push((a, entries.len() as u32));
        }
        order.swap(0, 3);
        let mut body = Vec::new();
        put_stream(&mut body, "{site=\"a\"}", &entries, order.iter().copied());
        put_stream(
            &mut body,
            "{site=\"b\"}",
            &entries,
            order[..1].iter().copied(),
        );
        let req = PushRequest::decode(&body[..]).unwrap();
        assert_eq!(req.streams.len(), 2);
        let s = &req.streams[0];
        assert_eq!(s.labels, "{site=\"a\"}");
        assert_eq!(s.entries.len(), 4);
        assert_eq!(s.entries[0].line, "x".repeat(300));
        assert_eq!(s.entries[3].ts_ns(), 1_700_000_000_123_456_789);
        assert_eq!(
            s.entries[3].structured_metadata,
            vec![
                LabelPairAdapter {
                    name: "path".into(),
                    value: "/".into()
                },
                LabelPairAdapter {
                    name: "status".into(),
                    value: "200".into()
                },
            ]
        );
        assert_eq!(
            s.entries[1].timestamp,
            Some(Timestamp {
                seconds: 0,
                nanos: 0
            })
        );
        assert_eq!(s.entries[2].ts_ns(), -1_500_000_000);
        assert_eq!(s.entries[2].timestamp.as_ref().unwrap().nanos, 500_000_000);
        assert_eq!(req.streams[1].entries.len(), 1);
    }

    #[test]
    fn label_strings_round_trip() {
        let mut s = String::from("{a=\"");
        put_label_value(&mut s, "x\"y\\z\nw");
        s.push_str("\", b=\"2\"}");
        let m = parse_labels(&s);
        assert_eq!(m["a"], "x\"y\\z\nw");
        assert_eq!(m["b"], "2");
    }
}

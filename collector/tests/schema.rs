//! The `parse` contract (issue 14): over every sample and test corpus in
//! the repository, every line leaves as a record (the records' byte ranges
//! tile each file), every record validates against
//! `docs/record.schema.json`, whose keys are the output's in order, and
//! `--show-errors` names the failing lines.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_sitepulse");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every regular file under `dir` that is a log (not docs or expectations).
fn logs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            logs(&p, out);
            continue;
        }
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let skip = [
            ".md", ".json", ".jsonl", ".sh", ".py", ".php", ".conf", ".ini", ".rs",
        ];
        if !skip.iter().any(|s| name.ends_with(s)) && !name.starts_with('.') {
            out.push(p);
        }
    }
}

fn corpora() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for d in [
        "collector/samples",
        "collector/pipeline/src/parse/testdata",
        "collector/pipeline/src/frame/testdata",
        "tests/corpora",
    ] {
        logs(&root().join(d), &mut files);
    }
    files.sort();
    files
}

fn parse(file: &Path, extra: &[&str]) -> (Vec<Value>, String) {
    let out = Command::new(BIN)
        .arg("parse")
        .args(extra)
        .arg(file)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let recs = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    (recs, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn every_line_of_every_corpus_is_a_record_that_fits_the_schema() {
    let schema: Value =
        serde_json::from_slice(&std::fs::read(root().join("docs/record.schema.json")).unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let files = corpora();
    assert!(files.len() >= 20, "{files:?}");
    let (mut lines_in, mut records_out) = (0usize, 0usize);
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let (recs, stderr) = parse(file, &[]);
        // Records tile the file: each starts where the previous ended, the
        // last ends at the end; so every physical line is in exactly one.
        // Container framing interleaves streams, and a line reassembled
        // from partials spans the other stream's lines between its parts:
        // there the records' ranges must cover the file without a gap.
        let framed = recs.iter().any(|r| r["stream"].is_string());
        let mut sorted: Vec<(u64, u64)> = recs
            .iter()
            .map(|r| {
                (
                    r["offset"].as_u64().unwrap(),
                    r["end_offset"].as_u64().unwrap(),
                )
            })
            .collect();
        sorted.sort_unstable();
        let mut at = 0u64;
        for (start, end) in &sorted {
            if framed {
                assert!(
                    *start <= at,
                    "{}: no record covers byte {at}\n{stderr}",
                    file.display()
                );
                at = at.max(*end);
            } else {
                assert_eq!(
                    *start,
                    at,
                    "{}: a gap or overlap at byte {at}\n{stderr}",
                    file.display()
                );
                at = *end;
            }
            assert!(end > start, "{}: empty record at {start}", file.display());
        }
        assert_eq!(
            at,
            bytes.len() as u64,
            "{}: lines after byte {at} have no record",
            file.display()
        );
        lines_in += bytes.split(|&b| b == b'\n').filter(|_| true).count()
            - usize::from(bytes.ends_with(b"\n"));
        records_out += recs.len();
        for r in &recs {
            if let Err(e) = validator.validate(r) {
                panic!("{}: {e}\n{r}", file.display());
            }
        }
    }
    eprintln!(
        "{} files: {lines_in} lines in, {records_out} records out (multi-line records join lines)",
        files.len()
    );
}

#[test]
fn schema_lists_the_output_keys_in_order() {
    let schema: Value =
        serde_json::from_slice(&std::fs::read(root().join("docs/record.schema.json")).unwrap())
            .unwrap();
    // serde_json keeps a map sorted, so read the key order from the text.
    let text = std::fs::read_to_string(root().join("docs/record.schema.json")).unwrap();
    let props = text.split("\"properties\"").nth(1).unwrap();
    let mut keys: Vec<(usize, &str)> = sitepulse_pipeline::output::KEYS
        .iter()
        .map(|k| {
            (
                props.find(&format!("\n    \"{k}\":")).unwrap_or(usize::MAX),
                *k,
            )
        })
        .collect();
    assert!(keys.iter().all(|(at, _)| *at != usize::MAX), "{keys:?}");
    keys.sort_unstable();
    let in_schema: Vec<&str> = keys.iter().map(|(_, k)| *k).collect();
    assert_eq!(in_schema, sitepulse_pipeline::output::KEYS);
    let required = schema["required"].as_array().unwrap();
    assert_eq!(required.len(), sitepulse_pipeline::output::KEYS.len());
}

#[test]
fn show_errors_names_file_offset_field_and_reason() {
    let dir = std::env::temp_dir().join(format!("sitepulse-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("access.log");
    let good =
        "10.0.0.1 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"curl/8\"\n";
    let bad =
        "10.0.0.1 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 2x0 5 \"-\" \"curl/8\"\n";
    std::fs::write(&f, format!("{good}{good}{bad}{bad}{good}")).unwrap();
    let (recs, stderr) = parse(&f, &["--show-errors", "1"]);
    assert_eq!(recs.len(), 5);
    let prefix = format!("{}:", f.display());
    let shown: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with(&prefix) && l.contains("bad_status ("))
        .collect();
    // One shown (N = 1), with where and why.
    let offset = 2 * good.len();
    assert_eq!(shown.len(), 1, "{stderr}");
    assert!(
        shown[0].starts_with(&format!(
            "{}:{offset}: bad_status (bad status field at byte",
            f.display()
        )),
        "{stderr}"
    );
    assert!(shown[0].ends_with("\"curl/8\""), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

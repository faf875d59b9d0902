//! `${VAR}` references in the config text, replaced before the YAML is
//! parsed, with the forms and the escape Vector documents
//! (<https://vector.dev/docs/reference/environment_variables>):
//!
//! | written            | `VAR` unset        | `VAR` empty | `VAR` set   |
//! |--------------------|--------------------|-------------|-------------|
//! | `${VAR}`           | error              | empty       | its value   |
//! | `${VAR:-default}`  | `default`          | `default`   | its value   |
//! | `${VAR-default}`   | `default`          | empty       | its value   |
//! | `${VAR:?message}`  | error, `message`   | error       | its value   |
//! | `${VAR?message}`   | error, `message`   | empty       | its value   |
//!
//! `$$` is a literal `$` (so `$${VAR}` is the text `${VAR}`); any other `$`
//! is kept as written (regex anchors, `$1`). Unlike Vector, the unbraced
//! `$VAR` is not expanded: config values are mostly regexes, where `$` is
//! common. A value with a line break is refused, as Vector does, since it
//! would change the document's structure. Lines that are comments (`#` as
//! their first non-blank character) are left alone, so a commented-out
//! example may name a variable that is not set.
//!
//! Line breaks are never added or removed, so a line number in the
//! expanded text is the line in the file; [`ColumnMap`] takes a column
//! back to where it was written.

use std::collections::BTreeSet;

/// A reference that could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvProblem {
    /// 1-based line of the reference.
    pub line: u64,
    /// 1-based column (in characters) of its `$`.
    pub column: u64,
    /// What is wrong, naming the variable.
    pub message: String,
}

/// One replaced reference on a line, in characters.
#[derive(Debug, Clone, Copy)]
struct Edit {
    /// Column where the reference started, as written.
    from: u64,
    /// Characters it took as written.
    written: u64,
    /// Characters it became.
    became: u64,
}

/// Maps a column of the expanded text back to the file's.
#[derive(Debug, Clone, Default)]
pub struct ColumnMap {
    /// Per 1-based line (index `line - 1`), its edits in order.
    lines: Vec<Vec<Edit>>,
}

impl ColumnMap {
    /// The file's column of `column` (1-based) on `line`. A column inside
    /// an expanded value is the reference's `$`.
    pub fn original(&self, line: u64, column: u64) -> u64 {
        let Some(edits) = line
            .checked_sub(1)
            .and_then(|i| self.lines.get(usize::try_from(i).ok()?))
        else {
            return column;
        };
        // Shift between expanded and written columns so far.
        let mut shift: i64 = 0;
        for e in edits {
            let start = (e.from as i64 + shift) as u64;
            if column < start {
                break;
            }
            if column < start + e.became {
                return e.from;
            }
            shift += e.became as i64 - e.written as i64;
        }
        (column as i64 - shift).max(1) as u64
    }
}

/// The text with every reference replaced, where the columns went, the
/// variables read, and every reference that could not be expanded (each
/// replaced by nothing, so parsing can go on and find more).
#[derive(Debug, Default)]
pub struct Expanded {
    /// The text to parse.
    pub text: String,
    /// Columns back to the file's.
    pub columns: ColumnMap,
    /// Variables the file references (set or not), for the summary.
    pub names: BTreeSet<String>,
    /// References that failed.
    pub problems: Vec<EnvProblem>,
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_name(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

/// Replaces `${...}` references using `lookup` (the process environment in
/// [`expand_env`]).
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Expanded {
    let mut out = Expanded {
        text: String::with_capacity(text.len()),
        ..Expanded::default()
    };
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let n = i as u64 + 1;
        let mut edits = Vec::new();
        if line.trim_start().starts_with('#') || !line.contains('$') {
            out.text.push_str(line);
            out.columns.lines.push(edits);
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut at = 0usize;
        while at < chars.len() {
            let c = chars[at];
            if c != '$' {
                out.text.push(c);
                at += 1;
                continue;
            }
            let col = at as u64 + 1;
            match chars.get(at + 1) {
                Some('$') => {
                    out.text.push('$');
                    edits.push(Edit {
                        from: col,
                        written: 2,
                        became: 1,
                    });
                    at += 2;
                }
                Some('{') => {
                    let close = chars[at + 2..].iter().position(|&c| c == '}');
                    let Some(close) = close.map(|p| at + 2 + p) else {
                        out.problems.push(EnvProblem {
                            line: n,
                            column: col,
                            message: "`${` without its closing `}` on the same line (write `$${` for a literal `${`)".into(),
                        });
                        out.text.extend(&chars[at..]);
                        break;
                    };
                    let inner: String = chars[at + 2..close].iter().collect();
                    let value = match reference(&inner, lookup) {
                        Ok((name, value)) => {
                            out.names.insert(name);
                            value
                        }
                        Err((name, message)) => {
                            if let Some(name) = name {
                                out.names.insert(name);
                            }
                            out.problems.push(EnvProblem {
                                line: n,
                                column: col,
                                message,
                            });
                            String::new()
                        }
                    };
                    let value = if value.contains(['\n', '\r']) {
                        out.problems.push(EnvProblem {
                            line: n,
                            column: col,
                            message: format!(
                                "`${{{inner}}}`: the value has a line break, which would change the YAML around it; not allowed"
                            ),
                        });
                        String::new()
                    } else {
                        value
                    };
                    edits.push(Edit {
                        from: col,
                        written: (close - at + 1) as u64,
                        became: value.chars().count() as u64,
                    });
                    out.text.push_str(&value);
                    at = close + 1;
                }
                _ => {
                    out.text.push('$');
                    at += 1;
                }
            }
        }
        out.columns.lines.push(edits);
    }
    out
}

/// [`expand`] over the process environment. A variable that is set but
/// not valid UTF-8 counts as unset.
pub fn expand_env(text: &str) -> Expanded {
    expand(text, &|name| std::env::var(name).ok())
}

/// One reference's value: `inner` is what stands between `${` and `}`.
/// The error names the variable when the name was readable.
fn reference(
    inner: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, String), (Option<String>, String)> {
    let end = inner
        .char_indices()
        .find(|&(_, c)| !is_name(c))
        .map_or(inner.len(), |(i, _)| i);
    let (name, rest) = inner.split_at(end);
    if !name.starts_with(is_name_start) {
        return Err((
            None,
            format!(
                "`${{{inner}}}` is not a variable reference: a name is a letter or `_` then letters, digits or `_` (write `$${{` for a literal `${{`)"
            ),
        ));
    }
    let value = lookup(name);
    let unset_or_empty = value.as_deref().is_none_or(str::is_empty);
    let owned = name.to_owned();
    let (op, arg) = if rest.is_empty() {
        ("", "")
    } else if let Some(a) = rest.strip_prefix(":-") {
        (":-", a)
    } else if let Some(a) = rest.strip_prefix(":?") {
        (":?", a)
    } else if let Some(a) = rest.strip_prefix('-') {
        ("-", a)
    } else if let Some(a) = rest.strip_prefix('?') {
        ("?", a)
    } else {
        return Err((
            Some(owned),
            format!(
                "`${{{inner}}}`: after the name, only `:-default`, `-default`, `:?message` or `?message` are allowed"
            ),
        ));
    };
    let hint = |arg: &str| {
        if arg.is_empty() {
            String::new()
        } else {
            format!(": {arg}")
        }
    };
    match (op, value) {
        ("", Some(v)) | ("-", Some(v)) | ("?", Some(v)) => Ok((owned, v)),
        (":-", _) if unset_or_empty => Ok((owned, arg.to_owned())),
        ("-", None) => Ok((owned, arg.to_owned())),
        ("", None) => Err((
            Some(owned),
            format!(
                "environment variable {name} is not set (give a default with `${{{name}:-default}}`)"
            ),
        )),
        ("?", None) => Err((
            Some(owned),
            format!("environment variable {name} is not set{}", hint(arg)),
        )),
        (":?", None) => Err((
            Some(owned),
            format!("environment variable {name} is not set{}", hint(arg)),
        )),
        (":?", _) if unset_or_empty => Err((
            Some(owned),
            format!("environment variable {name} is empty{}", hint(arg)),
        )),
        (_, Some(v)) => Ok((owned, v)),
        (_, None) => Ok((owned, String::new())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("node-7".into()),
            "EMPTY" => Some(String::new()),
            "PORT" => Some("9464".into()),
            "MULTI" => Some("a\nb: c".into()),
            _ => None,
        }
    }

    fn run(text: &str) -> Expanded {
        expand(text, &env)
    }

    // The forms and their results are the table of
    // https://vector.dev/docs/reference/environment_variables (Default
    // values, Required variables, Escaping).
    #[test]
    fn forms_follow_vector() {
        let e = run(
            "a: ${HOST}\nb: ${NOPE:-dflt}\nc: ${EMPTY:-dflt}\nd: ${EMPTY-dflt}\ne: ${NOPE-dflt}\nf: x${PORT}y\n",
        );
        assert_eq!(
            e.text,
            "a: node-7\nb: dflt\nc: dflt\nd: \ne: dflt\nf: x9464y\n"
        );
        assert!(e.problems.is_empty(), "{:?}", e.problems);
        assert_eq!(
            e.names.iter().map(String::as_str).collect::<Vec<_>>(),
            ["EMPTY", "HOST", "NOPE", "PORT"]
        );
    }

    #[test]
    fn dollar_dollar_is_a_literal_dollar_and_other_dollars_stay() {
        let e = run("a: '$${HOST}'\nb: '^/x$'\nc: $1 $HOST $$HOST\n");
        assert_eq!(e.text, "a: '${HOST}'\nb: '^/x$'\nc: $1 $HOST $HOST\n");
        assert!(e.problems.is_empty());
    }

    #[test]
    fn missing_variables_are_errors_naming_them_and_their_line() {
        let e = run(
            "x: 1\nlisten: ${LISTEN}\nck: ${CK:?set the checkpoint path}\ne: ${EMPTY:?}\nok: ${EMPTY?}\n",
        );
        let got: Vec<_> = e
            .problems
            .iter()
            .map(|p| (p.line, p.column, p.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    2,
                    9,
                    "environment variable LISTEN is not set (give a default with `${LISTEN:-default}`)"
                ),
                (
                    3,
                    5,
                    "environment variable CK is not set: set the checkpoint path"
                ),
                (4, 4, "environment variable EMPTY is empty"),
            ]
        );
        // Each failed reference became nothing: the rest still parses.
        assert_eq!(e.text, "x: 1\nlisten: \nck: \ne: \nok: \n");
    }

    #[test]
    fn malformed_references_and_line_breaks_are_refused() {
        let e = run("a: ${1X}\nb: ${HOST:+x}\nc: ${HOST\nd: ${MULTI}\n");
        let got: Vec<_> = e.problems.iter().map(|p| (p.line, p.column)).collect();
        assert_eq!(got, [(1, 4), (2, 4), (3, 4), (4, 4)]);
        assert!(e.problems[3].message.contains("line break"));
        assert!(!e.text.contains("b: c"));
    }

    #[test]
    fn comment_lines_are_left_alone() {
        let e = run("# listen: ${NOPE}\n  # ${NOPE}\na: 1\n");
        assert!(e.problems.is_empty());
        assert_eq!(e.text, "# listen: ${NOPE}\n  # ${NOPE}\na: 1\n");
    }

    #[test]
    fn columns_map_back_to_the_file() {
        // "a: ${HOST} ${PORT}: z" becomes "a: node-7 9464: z".
        let e = run("a: ${HOST} ${PORT}: z\n");
        assert_eq!(e.text, "a: node-7 9464: z\n");
        let m = &e.columns;
        assert_eq!(m.original(1, 1), 1);
        assert_eq!(m.original(1, 4), 4); // start of node-7 = the `$`
        assert_eq!(m.original(1, 8), 4); // inside node-7
        assert_eq!(m.original(1, 11), 12); // start of 9464 = its `$`
        assert_eq!(m.original(1, 15), 19); // the `:` after it
        assert_eq!(m.original(2, 5), 5); // a line without edits
    }
}

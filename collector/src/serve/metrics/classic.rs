//! OpenMetrics text → the classic Prometheus text format (0.0.4), for
//! scrapers that do not ask for OpenMetrics. prometheus-client encodes
//! OpenMetrics only; the two formats differ in a few places, each handled
//! here (OpenMetrics 1.0 spec,
//! <https://github.com/prometheus/OpenMetrics/blob/v1.0.0/specification/OpenMetrics.md>;
//! the classic format,
//! <https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format>):
//!
//! - a counter family is named without `_total` in OpenMetrics
//!   (`# TYPE x counter`, samples `x_total`); classic names the family as
//!   its samples (`# TYPE x_total counter`);
//! - `info` has no classic type: `# TYPE x info` + `x_info{..} 1` becomes a
//!   gauge `x_info`; `unknown` becomes `untyped`; `stateset` a gauge and
//!   `gaugehistogram` `untyped` (their samples still parse);
//! - `# UNIT` lines and the `# EOF` terminator do not exist in classic;
//! - `HELP` escapes only `\\` and `\n` in classic (OpenMetrics also `\"`);
//! - exemplars (` # {..} v` after a sample's value) are dropped; `_created`
//!   samples of counters and histograms are dropped (classic has none).
//!
//! Sample lines are otherwise identical: the same name, label escaping and
//! value syntax (prometheus-client writes no timestamps).

/// Converts OpenMetrics text as prometheus-client writes it into the
/// classic text format, appending to `out`.
pub fn convert(om: &str, out: &mut String) {
    out.reserve(om.len());
    let mut family = Family::default();
    let mut help: Option<&str> = None;
    for line in om.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let (kw, rest) = rest.split_once(' ').unwrap_or((rest, ""));
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            match kw {
                // prometheus-client writes HELP before TYPE: keep it until
                // TYPE says what the family is called in classic.
                "HELP" => help = Some(text),
                "TYPE" => {
                    family = Family::new(name, text);
                    if let Some(h) = help.take() {
                        push_help(out, &family.classic, h);
                    }
                    out.push_str("# TYPE ");
                    out.push_str(&family.classic);
                    out.push(' ');
                    out.push_str(family.classic_type);
                    out.push('\n');
                }
                // UNIT and EOF have no classic counterpart; other comments
                // pass through (classic allows them).
                "UNIT" | "EOF" => {}
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            continue;
        }
        if line == "# EOF" || line.is_empty() {
            continue;
        }
        let sample = strip_exemplar(line);
        if family.drops(sample) {
            continue;
        }
        out.push_str(sample);
        out.push('\n');
    }
}

/// The family being converted.
#[derive(Debug, Default)]
struct Family {
    /// Name in OpenMetrics (`x` of `# TYPE x counter`).
    name: String,
    /// Name in classic (`x_total`).
    classic: String,
    classic_type: &'static str,
    /// Counters and histograms: drop `<name>_created` samples.
    has_created: bool,
}

impl Family {
    fn new(name: &str, om_type: &str) -> Family {
        let (suffix, classic_type, has_created) = match om_type {
            "counter" => ("_total", "counter", true),
            "info" => ("_info", "gauge", false),
            "gauge" => ("", "gauge", false),
            "histogram" => ("", "histogram", true),
            "summary" => ("", "summary", true),
            "stateset" => ("", "gauge", false),
            _ => ("", "untyped", false),
        };
        Family {
            name: name.to_owned(),
            classic: format!("{name}{suffix}"),
            classic_type,
            has_created,
        }
    }

    /// Whether `sample` is a `_created` sample of this family.
    fn drops(&self, sample: &str) -> bool {
        self.has_created
            && sample
                .strip_prefix(self.name.as_str())
                .and_then(|r| r.strip_prefix("_created"))
                .is_some_and(|r| r.starts_with(['{', ' ']))
    }
}

/// `# HELP name text` with classic escaping: `\"` (an OpenMetrics escape)
/// becomes `"`; `\\` and `\n` stay.
fn push_help(out: &mut String, name: &str, text: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    let mut rest = text;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let esc = &rest[at..];
        if let Some(r) = esc.strip_prefix("\\\"") {
            out.push('"');
            rest = r;
        } else if esc.starts_with("\\\\") || esc.starts_with("\\n") {
            out.push_str(&esc[..2]);
            rest = &esc[2..];
        } else {
            // A lone backslash: classic needs it escaped.
            out.push_str("\\\\");
            rest = &esc[1..];
        }
    }
    out.push_str(rest);
    out.push('\n');
}

/// The sample without an exemplar: the text before ` # ` that follows
/// the label set (a `#` inside a quoted label value is not one).
fn strip_exemplar(line: &str) -> &str {
    // Nearly every line has none: one substring search decides.
    if !line.contains(" #") {
        return line;
    }
    let b = line.as_bytes();
    let mut i = 0;
    let mut quoted = false;
    let mut in_labels = false;
    while i < b.len() {
        match b[i] {
            b'\\' if quoted => i += 1,
            b'"' if in_labels => quoted = !quoted,
            b'{' if !quoted => in_labels = true,
            b'}' if !quoted => in_labels = false,
            b'#' if !quoted && !in_labels && i > 0 && b[i - 1] == b' ' => {
                return line[..i - 1].trim_end();
            }
            _ => {}
        }
        i += 1;
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(om: &str) -> String {
        let mut out = String::new();
        convert(om, &mut out);
        out
    }

    // The counter, info and histogram shapes below are those of the
    // OpenMetrics 1.0 spec's examples (section "Text format", "Counter",
    // "Info", "Histogram"); the classic results follow the exposition
    // format page's example (`http_requests_total`, `# TYPE ... counter`).
    #[test]
    fn counters_are_named_by_their_samples() {
        let om = "# HELP foo Requests.\n# TYPE foo counter\nfoo_total{a=\"b\"} 17\nfoo_created{a=\"b\"} 1520430000.123\n# EOF\n";
        assert_eq!(
            conv(om),
            "# HELP foo_total Requests.\n# TYPE foo_total counter\nfoo_total{a=\"b\"} 17\n"
        );
    }

    #[test]
    fn info_becomes_a_gauge_and_units_go() {
        let om = "# HELP b Build.\n# TYPE b info\nb_info{version=\"1\"} 1\n# HELP t Time.\n# TYPE t_seconds gauge\n# UNIT t_seconds seconds\nt_seconds 1.5\n# EOF\n";
        assert_eq!(
            conv(om),
            "# HELP b_info Build.\n# TYPE b_info gauge\nb_info{version=\"1\"} 1\n# HELP t_seconds Time.\n# TYPE t_seconds gauge\nt_seconds 1.5\n"
        );
    }

    #[test]
    fn histograms_keep_their_samples_without_created_or_exemplars() {
        let om = "# HELP h Latency.\n# TYPE h histogram\nh_bucket{le=\"0.1\"} 8 # {trace_id=\"KOO5S4vxi0o\"} 0.067\nh_bucket{le=\"+Inf\"} 17\nh_count 17\nh_sum 324789.3\nh_created 1520430000.123\n# EOF\n";
        assert_eq!(
            conv(om),
            "# HELP h Latency.\n# TYPE h histogram\nh_bucket{le=\"0.1\"} 8\nh_bucket{le=\"+Inf\"} 17\nh_count 17\nh_sum 324789.3\n"
        );
    }

    #[test]
    fn a_hash_inside_a_label_value_is_not_an_exemplar() {
        let line = "g{site=\"a # b\",x=\"q\\\"} # \"} 1";
        assert_eq!(strip_exemplar(line), line);
        assert_eq!(strip_exemplar("g{a=\"1\"} 2 # {} 3"), "g{a=\"1\"} 2");
    }

    #[test]
    fn help_escapes_are_the_classic_ones() {
        let mut out = String::new();
        push_help(&mut out, "x", r#"a \"q\" b\\c \n d \z"#);
        assert_eq!(out, "# HELP x a \"q\" b\\\\c \\n d \\\\z\n");
    }
}

//! Corpus-level tests: determinism, stats against the bytes, shapes of every
//! format, framing round trips, popularity skew, samples.

use std::collections::BTreeMap;

use regex::Regex;

use crate::*;

fn gen_with(cfg: &CorpusConfig) -> (String, CorpusStats) {
    let (bytes, stats) = generate_vec(cfg).unwrap();
    assert_eq!(stats.bytes, bytes.len() as u64, "byte count");
    let text = String::from_utf8(bytes).expect("corpus is UTF-8");
    assert_eq!(stats.lines, text.matches('\n').count() as u64, "line count");
    (text, stats)
}

fn gen_fmt(format: Format, lines: u64, seed: u64) -> (String, CorpusStats) {
    gen_with(&CorpusConfig {
        format,
        lines,
        seed,
        ..CorpusConfig::default()
    })
}

fn site_of_slug(slug: &str) -> usize {
    slug.trim_start_matches("site").parse::<usize>().unwrap() - 1
}

#[test]
fn same_seed_same_bytes_for_every_format_and_framing() {
    for format in Format::ALL {
        for framing in Framing::ALL {
            let cfg = CorpusConfig {
                format,
                framing,
                lines: 500,
                max_line_bytes: 200,
                ..CorpusConfig::default()
            };
            let a = generate_vec(&cfg).unwrap();
            let b = generate_vec(&cfg).unwrap();
            assert_eq!(a.0, b.0, "{format} {framing}");
            assert_eq!(a.1, b.1);
            let c = generate_vec(&CorpusConfig {
                seed: 2,
                ..cfg.clone()
            })
            .unwrap();
            assert_ne!(a.0, c.0, "{format} {framing}: seed must matter");
        }
    }
}

#[test]
fn records_do_not_depend_on_framing() {
    for format in Format::ALL {
        let plain = gen_with(&CorpusConfig {
            lines: 300,
            format,
            ..CorpusConfig::default()
        })
        .0;
        let cri = gen_with(&CorpusConfig {
            lines: 300,
            format,
            framing: Framing::Cri,
            ..CorpusConfig::default()
        })
        .0;
        let unwrapped: Vec<&str> = cri
            .lines()
            .map(|l| l.splitn(4, ' ').nth(3).unwrap())
            .collect();
        assert_eq!(plain.lines().collect::<Vec<_>>(), unwrapped, "{format}");
    }
}

#[test]
fn traefik_clf_shape_and_stats() {
    let (text, stats) = gen_fmt(Format::TraefikClf, 20_000, 1);
    let re = Regex::new(
        r#"^(\S+) - - \[(\d\d)/Nov/2026:(\d\d):(\d\d):(\d\d) \+0000\] "(GET|POST|HEAD|PUT|OPTIONS) (/\S*) (HTTP/(?:1\.0|1\.1|2\.0|3\.0))" (\d{3}|-) (\d+|-) "(.*)" "(.*)" (\d+) "(\S+)" "(\S+)" (\d+)ms$"#,
    )
    .unwrap();
    let mut status: BTreeMap<u16, u64> = BTreeMap::new();
    let mut sites = vec![0u64; 500];
    let (mut stray, mut body, mut prev_count) = (0u64, 0u64, 0u64);
    for line in text.lines() {
        let c = re
            .captures(line)
            .unwrap_or_else(|| panic!("bad CLF line: {line}"));
        let st: u16 = if &c[9] == "-" {
            0
        } else {
            c[9].parse().unwrap()
        };
        *status.entry(st).or_default() += 1;
        if &c[10] != "-" {
            body += c[10].parse::<u64>().unwrap();
        }
        let count: u64 = c[13].parse().unwrap();
        if prev_count > 0 {
            assert_eq!(
                count,
                prev_count + 1,
                "Traefik's request counter increments"
            );
        }
        prev_count = count;
        let router = &c[14];
        if router == "-" {
            stray += 1;
            assert_eq!(&c[15], "-");
        } else {
            let slug = router
                .strip_prefix("websecure-")
                .unwrap()
                .split('-')
                .next()
                .unwrap();
            let site = site_of_slug(slug);
            assert_eq!(router, router_name(site));
            if st != 0 {
                assert_eq!(&c[15], service_url(site));
            }
            sites[site] += 1;
        }
    }
    assert_eq!(stats.records, 20_000);
    assert_eq!(stats.status_counts, status);
    assert_eq!(stats.site_records, sites);
    assert_eq!(stats.stray_host_records, stray);
    assert_eq!(stats.body_bytes, body);
    let s5: u64 = status.range(500..600).map(|(_, n)| n).sum();
    assert_eq!(stats.status_5xx, s5);
    assert!(
        stray > 0 && stats.status(0) > stray,
        "stray hosts and 429s are written as `-`"
    );
    for code in [200, 304, 301, 302, 404, 403, 499, 500, 502, 503, 504] {
        assert!(stats.status(code) > 0, "status {code} missing");
    }
    assert!(stats.status(200) > stats.records / 2);
    // Exact shape of the head of the file.
    let first = text.lines().next().unwrap();
    assert!(
        first.contains(" - - [22/Nov/2026:10:00:00 +0000] \""),
        "{first}"
    );
    assert!(text.contains("\"POST /wp-admin/admin-ajax.php HTTP/"));
    assert!(text.contains(" /xmlrpc.php HTTP/"));
    assert!(text.contains("GET /wp-includes/js/jquery/jquery.min.js?ver=3.7.1 HTTP/"));
}

#[test]
fn traefik_json_is_valid_json_with_traefik_fields() {
    let (text, stats) = gen_fmt(Format::TraefikJson, 5_000, 3);
    let mut status: BTreeMap<u16, u64> = BTreeMap::new();
    let mut body = 0;
    let mut sites = vec![0u64; 500];
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let o = v.as_object().unwrap();
        let keys: Vec<&String> = o.keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "keys in Go's sorted order");
        for k in [
            "ClientAddr",
            "ClientHost",
            "ClientPort",
            "ClientUsername",
            "DownstreamContentSize",
            "DownstreamStatus",
            "Duration",
            "Overhead",
            "RequestAddr",
            "RequestContentSize",
            "RequestCount",
            "RequestHost",
            "RequestMethod",
            "RequestPath",
            "RequestPort",
            "RequestProtocol",
            "RequestScheme",
            "RetryAttempts",
            "StartLocal",
            "StartUTC",
            "entryPointName",
            "level",
            "msg",
            "time",
        ] {
            assert!(o.contains_key(k), "{k} missing: {line}");
        }
        let st = o["DownstreamStatus"].as_u64().unwrap() as u16;
        *status.entry(st).or_default() += 1;
        body += o["DownstreamContentSize"].as_u64().unwrap();
        if let Some(r) = o.get("RouterName") {
            let slug = r
                .as_str()
                .unwrap()
                .strip_prefix("websecure-")
                .unwrap()
                .split('-')
                .next()
                .unwrap();
            let site = site_of_slug(slug);
            sites[site] += 1;
            assert_eq!(o["RequestHost"], site_name(site).as_str());
            if let Some(url) = o.get("ServiceURL") {
                assert_eq!(
                    url["Host"].as_str().unwrap(),
                    format!("{}:80", pod_ip(site))
                );
                assert_eq!(o["ServiceName"], service_name(site).as_str());
                assert!(o.contains_key("OriginStatus"));
            }
        }
        let start = o["StartUTC"].as_str().unwrap();
        assert!(
            start.starts_with("2026-11-22T10:") && start.ends_with('Z'),
            "{start}"
        );
    }
    assert_eq!(stats.status_counts, status);
    assert_eq!(stats.body_bytes, body);
    assert_eq!(stats.site_records, sites);
    // HTML characters are escaped as Go does.
    assert!(text.contains("\\u0026"), "query strings carry \\u0026");
    assert!(!text.contains('<'));
}

#[test]
fn nginx_shape_and_stats() {
    let (text, stats) = gen_fmt(Format::Nginx, 10_000, 4);
    let re = Regex::new(
        r#"^(\S+) - - \[\d\d/Nov/2026:\d\d:\d\d:\d\d \+0000\] "(GET|POST|HEAD|PUT|OPTIONS) (/[^" ]*) HTTP/1\.1" (\d{3}) (\d+) "([^"]*)" "([^"]*)" (\d+\.\d{3}) (site\d{3}\.example\.com)$"#,
    )
    .unwrap();
    let mut status: BTreeMap<u16, u64> = BTreeMap::new();
    let mut sites = vec![0u64; 500];
    for line in text.lines() {
        let c = re
            .captures(line)
            .unwrap_or_else(|| panic!("bad nginx line: {line}"));
        *status.entry(c[4].parse().unwrap()).or_default() += 1;
        let site = site_of_slug(c[9].split('.').next().unwrap());
        sites[site] += 1;
        let secs: f64 = c[8].parse().unwrap();
        if &c[4] == "504" {
            assert!(secs >= 60.0, "{line}");
        }
    }
    assert_eq!(stats.status_counts, status);
    assert_eq!(stats.site_records, sites);
    assert_eq!(stats.stray_host_records, 0);
}

#[test]
fn nginx_escapes_quotes_and_non_ascii() {
    // Enough lines that the quoted and the UTF-8 user agents both appear.
    let (text, _) = gen_fmt(Format::Nginx, 60_000, 9);
    assert!(text.contains("\\x22"), "a quoted user agent");
    assert!(text.contains("\\xE5"), "a UTF-8 user agent, escaped");
    assert!(text.is_ascii());
}

#[test]
fn fpm_access_shape() {
    let (text, stats) = gen_fmt(Format::FpmAccess, 5_000, 5);
    let re = Regex::new(
        r#"^(\S+) -  \d\d/Nov/2026:\d\d:\d\d:\d\d \+0000 "(GET|POST|HEAD|PUT|OPTIONS) (/\S*\.php(?:\?\S*)?)" (\d{3}) (/var/www/html/\S+\.php) (\d+\.\d{3}) (\d+) (\d+\.\d\d)%$"#,
    )
    .unwrap();
    let mut status: BTreeMap<u16, u64> = BTreeMap::new();
    for line in text.lines() {
        let c = re
            .captures(line)
            .unwrap_or_else(|| panic!("bad fpm_access line: {line}"));
        *status.entry(c[4].parse().unwrap()).or_default() += 1;
        let script = c[3].split('?').next().unwrap();
        assert_eq!(format!("/var/www/html{script}"), &c[5]);
    }
    assert_eq!(stats.status_counts, status);
    assert!(stats.status(499) == 0 && stats.status(502) == 0 && stats.status(429) == 0);
    assert!(text.contains("\"GET /index.php\" 200 /var/www/html/index.php "));
    assert!(text.contains("\"POST /wp-admin/admin-ajax.php\" "));
}

#[test]
fn fpm_error_shape_and_event_counts() {
    let (text, stats) = gen_fmt(Format::FpmError, 20_000, 6);
    let head = Regex::new(r"^\[\d\d-Nov-2026 \d\d:\d\d:\d\d(\.\d{6})?\] (NOTICE|WARNING|DEBUG): ")
        .unwrap();
    let mut c = FpmCounts::default();
    for line in text.lines() {
        assert!(head.is_match(line), "bad fpm_error line: {line}");
        if line.contains(" said into stderr: \"") {
            c.stderr += 1;
        } else if line.contains("] DEBUG: pid 1, ") {
            c.debug += 1;
        } else if line.ends_with(" started") && line.contains("] child ") {
            c.started += 1;
        } else if line.contains(" exited with code 0 after ") {
            c.exited += 1;
        } else if line.contains(" exited on signal ") {
            c.signaled += 1;
        } else if line.contains("server reached pm.max_children setting (") {
            c.max_children += 1;
        } else if line.contains("] seems busy (you may need to increase pm.start_servers") {
            c.seems_busy += 1;
        } else if line.contains(") executing too slow (") {
            c.slow += 1;
        } else if line.contains(") execution timed out (") {
            c.timed_out += 1;
        } else {
            assert!(!line.contains("[pool "), "unclassified: {line}");
            c.lifecycle += 1;
        }
    }
    assert_eq!(stats.fpm, c);
    assert!(
        c.terminated() > 0 && c.max_children > 0 && c.slow > 0 && c.debug > 0 && c.lifecycle > 0
    );
    assert_eq!(stats.out_of_order, 0, "the FPM master writes in order");
    let re = Regex::new(
        r#"WARNING: \[pool site\d{3}\] child \d+, script '/var/www/html/\S+\.php' \(request: "(GET|POST) /\S+"\) execution timed out \(\d+\.\d{6} sec\), terminating$"#,
    )
    .unwrap();
    assert!(text.lines().any(|l| re.is_match(l)));
    // A timeout is followed by the kill and the replacement child.
    let lines: Vec<&str> = text.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.contains("execution timed out"))
        .unwrap();
    assert!(
        lines[i + 1].contains("exited on signal 15 (SIGTERM) after "),
        "{}",
        lines[i + 1]
    );
    assert!(lines[i + 2].ends_with(" started"), "{}", lines[i + 2]);
}

#[test]
fn fpm_slow_blocks() {
    let (text, stats) = gen_fmt(Format::FpmSlow, 2_000, 7);
    let header =
        Regex::new(r"^\[\d\d-Nov-2026 \d\d:\d\d:\d\d\]  \[pool (site\d{3})\] pid \d+$").unwrap();
    let frame = Regex::new(
        r"^\[0x[0-9a-f]{16}\] (?:\S+\(\) /var/www/html/\S+\.php:\d+|\+\+\+ dump failed)$",
    )
    .unwrap();
    let mut sites = vec![0u64; 500];
    let blocks: Vec<&str> = text.split_terminator("\n\n").collect();
    assert_eq!(blocks.len() as u64, stats.records);
    assert_eq!(stats.fpm.slow, stats.records);
    for b in blocks {
        let mut lines = b.lines();
        let c = header.captures(lines.next().unwrap()).expect("header");
        sites[site_of_slug(&c[1])] += 1;
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("script_filename = /var/www/html/")
        );
        let frames: Vec<&str> = lines.collect();
        assert!((2..=12).contains(&frames.len()), "{b}");
        for f in frames {
            assert!(frame.is_match(f), "{f}");
        }
    }
    assert_eq!(stats.site_records, sites);
}

#[test]
fn wordpress_entries_and_counts() {
    let (text, stats) = gen_fmt(Format::WordPress, 5_000, 8);
    let head = Regex::new(r"^\[\d\d-Nov-2026 \d\d:\d\d:\d\d UTC\] ").unwrap();
    let mut c = PhpCounts::default();
    let mut records = 0;
    let mut in_trace = false;
    for line in text.lines() {
        if head.is_match(line) {
            assert!(!in_trace, "trace not closed before {line}");
            records += 1;
            let msg = &line[27..];
            if msg.starts_with("PHP Fatal error:  ") || msg.starts_with("PHP Parse error:  ") {
                c.fatal += 1;
                in_trace = msg.contains("Uncaught ");
            } else if msg.starts_with("PHP Warning:  ") {
                c.warning += 1;
            } else if msg.starts_with("PHP Notice:  ") {
                c.notice += 1;
            } else if msg.starts_with("PHP Deprecated:  ") {
                c.deprecated += 1;
            } else if msg.starts_with("WordPress database error ")
                && msg.contains(" for query ")
                && msg.contains(" made by ")
            {
                c.database += 1;
            } else {
                panic!("unknown entry {line}");
            }
        } else if line == "Stack trace:" || line.starts_with('#') {
            assert!(in_trace, "{line}");
        } else if line.starts_with("  thrown in ") {
            assert!(in_trace);
            in_trace = false;
        } else {
            panic!("stray line {line}");
        }
    }
    assert_eq!(records, stats.records);
    assert_eq!(stats.php, c);
    assert!(c.fatal > 0 && c.database > 0);
    assert!(text.contains("PHP Fatal error:  Uncaught Error: "));
    assert!(text.contains("\n#1 {main}\n") || text.contains("{main}\n  thrown in /var/www/site"));
    // Shared hosting: every install under its own root, none under the
    // stock one, so script paths name the site.
    assert!(text.contains("/var/www/site") && !text.contains("/var/www/html/"));
}

#[test]
fn zipf_makes_a_few_sites_busy() {
    let (_, stats) = gen_fmt(Format::TraefikClf, 100_000, 1);
    let mut counts = stats.site_records.clone();
    counts.sort_unstable();
    let top = counts[counts.len() - 1];
    let median = counts[counts.len() / 2];
    let total: u64 = counts.iter().sum();
    assert!(top > 100 * median.max(1), "top {top} median {median}");
    let share = top as f64 / total as f64;
    assert!((0.12..0.25).contains(&share), "top share {share}");
    assert!(
        counts.iter().filter(|&&n| n > 0).count() > 400,
        "most sites see traffic"
    );
    // Popularity is shuffled: site001 is not simply the busiest.
    assert_ne!(stats.top_sites(1)[0].0, 0);
}

#[test]
fn time_span_jitter_and_incidents() {
    let cfg = CorpusConfig {
        lines: 30_000,
        format: Format::TraefikJson,
        ..CorpusConfig::default()
    };
    let (text, stats) = gen_with(&cfg);
    let start = DEFAULT_START_UNIX_SECS * 1_000_000_000;
    assert!(stats.min_ts_ns >= start);
    assert!(
        stats.max_ts_ns < start + 102 * 1_000_000_000,
        "30,000 lines at 300/s span 100 s"
    );
    assert!(stats.max_ts_ns > start + 95 * 1_000_000_000);
    assert!(
        stats.out_of_order > 100,
        "jitter and long requests reorder lines"
    );
    assert_eq!(stats.incident_sites.len(), 2);
    // The incident sites fail far more during their window than overall.
    let lines: Vec<&str> = text.lines().collect();
    let window = &lines[lines.len() * 35 / 100..lines.len() * 45 / 100];
    for &site in &stats.incident_sites {
        let needle = format!("\"RouterName\":\"{}\"", router_name(site));
        let hits: Vec<&&str> = window.iter().filter(|l| l.contains(&needle)).collect();
        let bad = hits
            .iter()
            .filter(|l| l.contains("\"DownstreamStatus\":50"))
            .count();
        assert!(bad * 4 > hits.len(), "{} of {} failed", bad, hits.len());
    }
    assert!(
        stats.status_5xx * 20 < stats.records,
        "overall 5xx stays low"
    );
}

#[test]
fn rare_lines_are_present() {
    let (text, _) = gen_fmt(Format::TraefikClf, 100_000, 11);
    assert!(
        text.lines().any(|l| l.len() > 2048),
        "a multi-KiB user agent"
    );
    assert!(
        text.contains("\"Mozilla/5.0\" OR \"1\"=\"1\"") || text.contains("\"Pinger\"/2.1"),
        "a UA with quotes"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("2a") || l.starts_with("2001:") || l.starts_with("26")),
        "IPv6 clients"
    );
    assert!(text.contains("\"GET /.env HTTP/"));
    assert!(text.contains("/wp-cron.php?doing_wp_cron=1795341"));
}

#[test]
fn cri_framing_splits_and_rejoins() {
    let re = Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) ([PF]) (.*)$")
        .unwrap();
    for format in [Format::TraefikClf, Format::FpmSlow, Format::WordPress] {
        let base = CorpusConfig {
            format,
            lines: 400,
            ..CorpusConfig::default()
        };
        let plain = gen_with(&base).0;
        let (cri, stats) = gen_with(&CorpusConfig {
            framing: Framing::Cri,
            max_line_bytes: 64,
            ..base.clone()
        });
        let mut joined = String::new();
        let mut partial = 0;
        let mut prev_ts = String::new();
        for line in cri.lines() {
            let c = re
                .captures(line)
                .unwrap_or_else(|| panic!("bad CRI line {line}"));
            assert!(c[3].len() <= 64);
            let ts = line[..30].to_string();
            assert!(ts >= prev_ts, "CRI times never go backwards");
            prev_ts = ts;
            assert_eq!(
                &c[1],
                if format == Format::TraefikClf {
                    "stdout"
                } else {
                    "stderr"
                }
            );
            joined.push_str(&c[3]);
            if &c[2] == "P" {
                partial += 1;
            } else {
                joined.push('\n');
            }
        }
        assert_eq!(joined, plain, "{format}");
        assert_eq!(stats.partial_chunks, partial);
        assert!(stats.split_lines > 0 && stats.split_lines < stats.lines);
    }
}

#[test]
fn docker_framing_splits_and_rejoins() {
    let base = CorpusConfig {
        format: Format::TraefikJson,
        lines: 300,
        ..CorpusConfig::default()
    };
    let plain = gen_with(&base).0;
    let (docker, stats) = gen_with(&CorpusConfig {
        framing: Framing::Docker,
        max_line_bytes: 100,
        ..base
    });
    let mut joined = String::new();
    let mut partial = 0;
    for line in docker.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(v["stream"], "stdout");
        assert!(v["time"].as_str().unwrap().starts_with("2026-11-22T10:0"));
        let log = v["log"].as_str().unwrap();
        if !log.ends_with('\n') {
            partial += 1;
            assert!(log.len() <= 100);
        }
        joined.push_str(log);
    }
    assert_eq!(joined, plain);
    assert_eq!(stats.partial_chunks, partial);
    assert!(partial > 0);
}

#[test]
fn only_site_writes_one_site() {
    let (text, stats) = gen_with(&CorpusConfig {
        format: Format::Nginx,
        lines: 1_000,
        only_site: Some(6),
        ..CorpusConfig::default()
    });
    assert!(text.lines().all(|l| l.ends_with(" site007.example.com")));
    assert_eq!(stats.site_records[6], 1_000);
}

#[test]
fn bad_configs_are_rejected() {
    for cfg in [
        CorpusConfig {
            sites: 0,
            ..CorpusConfig::default()
        },
        CorpusConfig {
            rps: Some(0.0),
            ..CorpusConfig::default()
        },
        CorpusConfig {
            only_site: Some(500),
            ..CorpusConfig::default()
        },
        CorpusConfig {
            max_line_bytes: 0,
            ..CorpusConfig::default()
        },
        CorpusConfig {
            jitter_ratio: 2.0,
            ..CorpusConfig::default()
        },
    ] {
        let err = generate(&cfg, &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }
}

#[test]
fn format_and_framing_names_round_trip() {
    for f in Format::ALL {
        assert_eq!(Format::from_name(f.name()), Some(f));
    }
    for f in Framing::ALL {
        assert_eq!(Framing::from_name(f.name()), Some(f));
    }
    assert_eq!(Format::from_name("apache"), None);
}

#[test]
fn samples_are_written() {
    let dir = std::env::temp_dir().join(format!("sitepulse-samples-{}", std::process::id()));
    let files = write_samples(&dir, 1).unwrap();
    assert_eq!(files.len(), 11);
    for f in &files {
        let len = std::fs::metadata(dir.join(&f.path)).unwrap().len();
        assert_eq!(len, f.stats.bytes, "{}", f.path.display());
    }
    let pod = files
        .iter()
        .find(|f| f.path.to_str().unwrap().contains("site007_site007-php-"))
        .unwrap();
    assert_eq!(pod.stats.framing, Framing::Cri);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every generated application-log record leaves the collector's pipeline
/// as one `text` record, in every framing: stack traces joined to the line
/// they follow by the default multi-line rule (`frame/rules.rs`), levels as
/// the loggers wrote them, and a time wherever the first line carries a
/// date (checked unframed, where no runtime time stands in).
#[test]
fn text_corpus_through_the_pipeline() {
    use sitepulse_pipeline::record::{LogFormat, Record};
    use sitepulse_pipeline::{Observer, Origin, Pipeline, PipelineConfig};

    #[derive(Default)]
    struct Seen {
        records: u64,
        not_text: Vec<String>,
        multi_line: u64,
        timed: u64,
        ts: Vec<i64>,
        levels: BTreeMap<&'static str, u64>,
    }
    impl Observer for Seen {
        fn record(
            &mut self,
            o: &Origin<'_>,
            rec: &Record<'_>,
            _site: sitepulse_pipeline::label::SiteId,
            _name: &str,
        ) {
            self.records += 1;
            if rec.source != LogFormat::Text || rec.error.is_some() {
                self.not_text
                    .push(String::from_utf8_lossy(o.message.bytes).into_owned());
            }
            self.multi_line += u64::from(o.message.bytes.contains(&b'\n'));
            if let Some(ts) = rec.ts_ns {
                self.timed += 1;
                self.ts.push(ts);
            }
            *self.levels.entry(rec.level.name()).or_default() += 1;
        }
    }

    for framing in Framing::ALL {
        let (bytes, stats) = generate_vec(&CorpusConfig {
            format: Format::Text,
            framing,
            lines: 20_000,
            seed: 5,
            ..CorpusConfig::default()
        })
        .unwrap();
        let now = stats.max_ts_ns / 1_000_000_000 + 60;
        let mut p = Pipeline::new(&PipelineConfig::default(), now).unwrap();
        let mut seen = Seen::default();
        let r = p
            .process("app.log", None, &bytes[..], &mut seen, &mut |_| {})
            .unwrap();
        assert_eq!(r.source, Some(LogFormat::Text), "{framing}: detected");
        assert_eq!(r.unparsed_total(), 0, "{framing}: {:?}", r.unparsed);
        assert_eq!(r.lines, stats.lines, "{framing}: physical lines");
        assert_eq!(r.records, stats.records, "{framing}: records");
        assert_eq!(seen.records, stats.records, "{framing}: observed");
        assert!(seen.not_text.is_empty(), "{framing}: {:?}", seen.not_text);
        assert_eq!(seen.multi_line, stats.text.traces(), "{framing}: traces");
        assert_eq!(seen.levels, stats.text.levels, "{framing}: levels");
        if framing == Framing::None {
            // The corpus ends so that it can follow itself (benches repeat it).
            let twice = bytes.repeat(2);
            let r2 = p
                .process("twice", None, &twice[..], &mut Seen::default(), &mut |_| {})
                .unwrap();
            assert_eq!(r2.records, 2 * stats.records, "corpus twice");
            assert_eq!(seen.timed, stats.text.timed, "dated records");
            let (lo, hi) = (stats.min_ts_ns, stats.max_ts_ns + 1_000_000_000);
            assert!(seen.ts.iter().all(|t| (lo..hi).contains(t)));
        }
    }
}

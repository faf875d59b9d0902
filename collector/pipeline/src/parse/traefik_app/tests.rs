//! Table tests over real Traefik application-log lines
//! (`testdata/traefik/app.log`, one case per line, sources cited per case),
//! then the shapes' edge cases and the no-panic property.

use super::*;
use proptest::prelude::*;

const APP_LOG: &[u8] = include_bytes!("../testdata/traefik/app.log");

struct Want {
    /// Line number in `app.log`, and where the line was published.
    line: usize,
    ts: Option<&'static str>,
    level: Level,
    level_raw: &'static str,
    message: &'static [u8],
    router: &'static str,
    service: &'static str,
    /// The attributes as written (colour codes shown as `^[`), or `None`
    /// for none.
    attrs: Option<&'static str>,
}

const fn w(line: usize, ts: &'static str, level: Level, level_raw: &'static str) -> Want {
    Want {
        line,
        ts: Some(ts),
        level,
        level_raw,
        message: b"",
        router: "",
        service: "",
        attrs: None,
    }
}

impl Want {
    const fn msg(mut self, m: &'static [u8]) -> Self {
        self.message = m;
        self
    }
    const fn router(mut self, r: &'static str) -> Self {
        self.router = r;
        self
    }
    const fn service(mut self, s: &'static str) -> Self {
        self.service = s;
        self
    }
    const fn attrs(mut self, a: &'static str) -> Self {
        self.attrs = Some(a);
        self
    }
    const fn no_ts(mut self) -> Self {
        self.ts = None;
        self
    }
}

use Level::{Debug, Error, Info, Warning};

#[rustfmt::skip]
const WANT: &[Want] = &[
    // 1-4: https://github.com/traefik/traefik/issues/12382 (v3.6.4, common format).
    w(1, "2025-12-07T09:30:33Z", Error, "ERR")
        .msg(b"Error calling http://bouncer-traefik:8080/api/v1/forwardAuth")
        .attrs(r#"error="Get \"http://bouncer-traefik:8080/api/v1/forwardAuth\": context canceled" middlewareName=crowdsec-bouncer@file middlewareType=ForwardAuth"#),
    w(2, "2025-12-07T09:59:49Z", Error, "ERR")
        .msg(b"Provider error, retrying in 498.570486ms")
        .attrs(r#"error="unexpected EOF" providerName=docker"#),
    // No message: zerolog writes the fields right after the level.
    w(3, "2025-12-07T10:09:43Z", Error, "ERR")
        .router("http-to-https@internal")
        .attrs(r#"error="middleware \"crowdsec-bouncer@file\" does not exist" entryPointName=http routerName=http-to-https@internal"#),
    w(4, "2025-12-07T10:09:44Z", Error, "ERR").router("torrent@docker"),
    // 5-6: https://github.com/traefik/traefik/issues/12248 (v3.6, journald prefix removed).
    w(5, "2025-11-09T07:40:14Z", Error, "ERR").msg(b"Provider error, retrying in 4.40974574s"),
    w(6, "2025-11-09T07:40:19Z", Error, "ERR").msg(b"Failed to list containers for docker"),
    // 7: https://github.com/tiangolo/dockerswarm.rocks/pull/155 (v3.0).
    w(7, "2024-05-09T14:49:01Z", Error, "ERR")
        .attrs(r#"error="service \"redacted\" error: port is missing" container=redacted-redacted-szcg2tz4e0icftu3errf0glr7 providerName=swarm"#),
    // 8-11: https://github.com/traefik/traefik/issues/10577 (v3.0.0-rc3).
    w(8, "2024-04-09T06:49:32Z", Info, "INF")
        .msg(b"Traefik version 3.0.0-rc3 built on 2024-03-13T15:49:38Z")
        .attrs("version=3.0.0-rc3"),
    w(9, "2024-04-09T06:49:32Z", Info, "INF").msg(b"Stats collection is enabled."),
    w(10, "2024-04-09T06:49:32Z", Info, "INF")
        .msg(br#"ingress label selector is: """#)
        .attrs("providerName=kubernetes"),
    w(11, "2024-04-09T06:49:32Z", Info, "INF").msg(b"Starting provider *crd.Provider"),
    // 12-14: a Coolify status report quoting `docker logs` of traefik:v3.6
    // (public GitHub text, library id 31443481394); the paste shows each
    // ESC as a space, restored here.
    w(12, "2026-02-09T04:47:59Z", Error, "ERR")
        .msg(b"Error occurred during watcher callback")
        .attrs("^[[36merror=^[[0m^[[31m^[[1m\"/traefik/dynamic/coolify-dashboard.yaml: yaml: line 4: found unknown escape character\"^[[0m^[[0m ^[[36mproviderName=^[[0mfile"),
    w(13, "2026-02-09T04:48:12Z", Error, "ERR")
        .msg(b"Unable to obtain ACME certificate for domains")
        .router("coolify-secure@file"),
    w(14, "2026-02-23T22:25:53Z", Error, "ERR").msg(b"Error while peeking client hello bytes"),
    // 15: a blog post on Traefik's access log (library id 21237677036).
    w(15, "2024-11-04T04:45:47Z", Debug, "DBG").msg(b"Service selected by WRR: b9597fe0f5ca1856"),
    // 16: a post on Traefik and WebSocket proxying (library id 53543864334).
    w(16, "2026-03-27T17:38:22Z", Debug, "DBG").msg(br#"Serving default certificate for request: """#),
    // 17: notes on an ipAllowList in Kubernetes (library id 14289963432).
    w(17, "2025-12-25T21:37:08Z", Debug, "DBG")
        .msg(br#"Rejecting IP 10.233.72.0: "10.233.72.0" matched none of the trusted IPs"#)
        .attrs("middlewareName=test1-test1-ipallowlist@kubernetescrd middlewareType=IPAllowLister"),
    // 18: a bolabaden.org issue quoting an ACME debug line (library id
    // 55052365655), with `ACME CA`, the one Traefik key with a space.
    w(18, "2025-08-14T03:55:04Z", Debug, "DBG")
        .msg(b"No ACME certificate generation required for domains")
        .attrs(r#"ACME CA=https://acme-v02.api.letsencrypt.org/directory acmeCA=https://acme-v02.api.letsencrypt.org/directory domains=["bolabaden.org","*.bolabaden.org","*.micklethefickle.bolabaden.org"] providerName=letsencrypt.acme"#),
    // 19: a post on fluentd and Traefik's JSON log (library id 37764998561).
    w(19, "2024-10-27T22:15:02Z", Debug, "debug").msg(b"Skipping unchanged configuration"),
    // 20-21: a Pangolin deployment report, traefik:v3.7.5 (library id 69286205590).
    w(20, "2026-06-17T17:10:53Z", Debug, "debug")
        .msg(b"Creating server")
        .router("ws-router@file")
        .service("api-service@file"),
    w(21, "2026-06-17T17:10:53Z", Warning, "warn")
        .msg(br#"Domain \"pang.androidrobot.cloud\" is duplicated in the configuration or validated by the domain {androidrobot.cloud [*.androidrobot.cloud]}. It will be processed once."#)
        .router("next-router@file"),
    // 22: a post on requests for unknown hosts (library id 13514054276).
    w(22, "2025-02-15T06:22:33Z", Debug, "debug")
        .msg(br#"Serving default certificate for request: \"postmaster.xxxxxxxx.hu\""#),
    // 23-25: https://github.com/traefik/traefik/issues/6635 (v2.2, logrus text).
    w(23, "2020-04-05T00:26:12+02:00", Debug, "debug")
        .msg(b"Start TCP Server")
        .attrs("entryPointName=web"),
    w(24, "2020-04-05T00:26:12+02:00", Info, "info")
        .msg(br#"Starting provider *docker.Provider {\"watch\":true,\"endpoint\":\"unix:///var/run/docker.sock\",\"defaultRule\":\"Host(`{{ normalize .Name }}.localhost`)\",\"exposedByDefault\":true,\"swarmModeRefreshSeconds\":15000000000}"#),
    w(25, "2020-04-05T00:26:12+02:00", Debug, "debug").attrs("providerName=file"),
    // 26: https://github.com/traefik/traefik/issues/4810 (v2.0.0-alpha4).
    w(26, "2019-04-24T09:44:02Z", Info, "info")
        .msg(b"Traefik version 2.0.0-alpha4 built on 2019-04-17T11:38:21Z"),
    // 27: https://github.com/traefik/traefik/pull/1746 (v1.3; logrus left a space at the end).
    w(27, "2017-06-14T23:08:38+02:00", Debug, "debug").msg(b"Creating frontend frontend-goecho5"),
    // 28: https://github.com/traefik/traefik/issues/7723 (v2.3.6, compose prefix removed).
    w(28, "2021-01-05T15:15:23Z", Info, "info").msg(b"Configuration loaded from flags."),
    // 29: https://github.com/traefik/traefik/issues/9900 (v2.10, logrus JSON).
    w(29, "2023-05-20T08:42:23+02:00", Error, "error")
        .msg(b"accept tcp [::]:80: use of closed network connection"),
    // 30: https://github.com/traefik/traefik/issues/7723 (v2.3.6).
    w(30, "2021-01-05T15:15:23Z", Info, "info")
        .msg(b"Traefik version 2.3.6 built on 2020-12-17T16:34:27Z"),
    // 31-32: https://github.com/traefik/traefik/issues/10509 (v2.11.0).
    w(31, "2024-03-10T01:30:25-08:00", Debug, "debug").msg(b"Entry point https closed"),
    w(32, "2024-03-10T01:30:27-08:00", Info, "info")
        .msg(b"Traefik version 2.11.0 built on 2024-02-12T15:26:45Z"),
    // 33: https://github.com/traefik/traefik/pull/2056 (v1.4, the first JSON log).
    w(33, "2017-09-05T02:34:52+02:00", Info, "info")
        .msg(b"Traefik version dev built on I don't remember exactly"),
    // 34-36: https://github.com/traefik/traefik/issues/9900 (v2.10 on a terminal).
    w(34, "", Info, "INFO").no_ts().msg(b"Configuration loaded from flags."),
    w(35, "2023-05-20T08:32:39+02:00", Info, "INFO")
        .msg(b"Traefik version 2.10.1 built on I don't remember exactly"),
    w(36, "2023-05-20T08:32:39+02:00", Debug, "DEBU"),
];

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace('\x1b', "^[")
}

#[test]
fn real_lines() {
    let lines: Vec<&[u8]> = APP_LOG
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), WANT.len());
    for (i, want) in WANT.iter().enumerate() {
        assert_eq!(want.line, i + 1);
        let line = lines[i];
        let r = parse(line).unwrap_or_else(|e| panic!("line {}: {e}", want.line));
        let n = want.line;
        assert_eq!(r.source, LogFormat::TraefikApp, "line {n}");
        assert_eq!(
            r.ts_ns,
            want.ts.map(|t| time::parse_rfc3339(t.as_bytes()).unwrap()),
            "line {n}"
        );
        assert_eq!(r.level, want.level, "line {n}");
        assert_eq!(show(r.level_raw), want.level_raw, "line {n}");
        if !want.message.is_empty() || want.line == 3 || want.line == 7 {
            assert_eq!(show(r.message), show(want.message), "line {n}");
        }
        assert_eq!(show(r.router), want.router, "line {n}");
        assert_eq!(show(r.service), want.service, "line {n}");
        if let Some(a) = want.attrs {
            assert_eq!(show(r.attrs), a, "line {n}");
        }
        // The attributes are the line's tail (or the whole JSON object).
        assert!(
            line.ends_with(r.attrs) || line.trim_ascii_end().ends_with(r.attrs),
            "line {n}"
        );
        let json = line.starts_with(b"{");
        assert_eq!(
            r.json_escaped,
            json || r.message.contains(&b'\\'),
            "line {n}"
        );
        if json {
            assert_eq!(r.attrs, line, "line {n}");
        }
    }
}

#[test]
fn messages_of_the_other_shapes() {
    let lines: Vec<&[u8]> = APP_LOG.split(|&c| c == b'\n').collect();
    let m = |n: usize| show(parse(lines[n - 1]).unwrap().message);
    // Caller before the message at debug level; fields after.
    assert_eq!(
        m(25),
        r#"Configuration received from provider file: {\"http\":{\"routers\":{\"dashboard\":{\"service\":\"api@internal\",\"rule\":\"Host(`traefik.localhost`)\"}}},\"tcp\":{},\"udp\":{},\"tls\":{}}"#
    );
    assert!(m(36).starts_with(r#"Static configuration loaded {"global":{"checkNewVersion":true}"#));
    assert!(m(36).ends_with(r#""log":{"level":"debug","format":"common"}}"#));
    assert_eq!(m(3), "");
    assert_eq!(m(7), "");
    let r = parse(lines[12]).unwrap();
    assert!(
        show(r.attrs).starts_with("^[[36merror=^[[0m^[[31m^[[1m\"unable to generate a certificate")
    );
    assert!(show(r.attrs).ends_with("^[[36mrule=^[[0mHost(`coolify.itachisbrainserver.online`)"));
}

/// Shapes the corpus above lacks, built from the writers' sources:
/// zerolog console.go (colours, caller, quoting) and logrus
/// text_formatter.go (colours on a terminal).
#[test]
fn writer_shapes() {
    // zerolog, coloured, debug level: caller in bold plus a cyan `>`, an
    // uncoloured message, fields in cyan.
    let line = b"\x1b[90m2024-05-14T08:52:20Z\x1b[0m \x1b[33mDBG\x1b[0m \x1b[1mgithub.com/traefik/traefik/v3/pkg/server/service/service.go:414\x1b[0m\x1b[36m >\x1b[0m Creating load-balancer \x1b[36mentryPointName=\x1b[0mweb \x1b[36mrouterName=\x1b[0mwhoami@docker \x1b[36mserviceName=\x1b[0mwhoami@docker";
    let r = parse(line).unwrap();
    assert_eq!((r.level, r.level_raw), (Level::Debug, &b"DBG"[..]));
    assert_eq!(r.message, b"Creating load-balancer");
    assert_eq!(
        (r.router, r.service),
        (&b"whoami@docker"[..], &b"whoami@docker"[..])
    );
    // No message and no fields; an unknown level.
    let r = parse(b"2024-05-14T08:52:20Z ???").unwrap();
    assert_eq!(
        (r.level, r.level_raw, r.message),
        (Level::None, &b"???"[..], &b""[..])
    );
    let r = parse(b"\x1b[90m2024-05-14T08:52:20Z\x1b[0m \x1b[31mPNC\x1b[0m \x1b[1mboom\x1b[0m")
        .unwrap();
    assert_eq!(
        (r.level, r.message, r.attrs),
        (Level::Fatal, &b"boom"[..], &b""[..])
    );
    // A JSON field value holding spaces and `=`.
    let r = parse(br#"2024-05-14T08:52:20Z DBG Configuration received config={"http":{"routers":{"a b":{"rule":"Path(`/x=y`)"}}}} providerName=docker"#).unwrap();
    assert_eq!(r.message, b"Configuration received");
    assert!(r.attrs.starts_with(b"config={"));
    // A message with `=` that is not a field stays whole.
    let r = parse(b"2024-05-14T08:52:20Z INF a=b and c").unwrap();
    assert_eq!((r.message, r.attrs), (&b"a=b and c"[..], &b""[..]));
    // logrus on a terminal, coloured: level and keys in the level's colour,
    // the message padded to 44 columns.
    let line = b"\x1b[31mERRO\x1b[0m[2020-04-05T00:26:12+02:00] Error while starting server                  \x1b[31mentryPointName\x1b[0m=web \x1b[31mrouterName\x1b[0m=r@docker";
    let r = parse(line).unwrap();
    assert_eq!((r.level, r.level_raw), (Level::Error, &b"ERRO"[..]));
    assert_eq!(r.message, b"Error while starting server");
    assert_eq!(r.router, b"r@docker");
    // Uncoloured terminal form with fields.
    let r = parse(b"WARN[2020-04-05T00:26:12+02:00] No domain found in rule Path(`/`)               routerName=api@docker").unwrap();
    assert_eq!(
        (r.level, r.message, r.router),
        (
            Level::Warning,
            &b"No domain found in rule Path(`/`)"[..],
            &b"api@docker"[..]
        )
    );
    // logrus text without a message; level `warning`, bare msg.
    let r = parse(b"time=\"2020-04-05T00:26:12Z\" level=warning routerName=x@file").unwrap();
    assert_eq!(
        (r.level, r.message, r.router),
        (Level::Warning, &b""[..], &b"x@file"[..])
    );
    let r = parse(b"time=\"2020-04-05T00:26:12Z\" level=fatal msg=boom\r\n").unwrap();
    assert_eq!(
        (r.level, r.message, r.json_escaped),
        (Level::Fatal, &b"boom"[..], false)
    );
    // zerolog JSON with an error and no message.
    let r = parse(
        br#"{"level":"error","error":"x","routerName":"r@file","time":"2026-11-22T10:00:00Z"}"#,
    )
    .unwrap();
    assert_eq!(
        (r.level, r.message, r.router),
        (Level::Error, &b""[..], &b"r@file"[..])
    );
}

#[test]
fn rejects() {
    assert_eq!(parse(b""), Err(ParseError::Empty));
    assert_eq!(parse(b" \r\n"), Err(ParseError::Empty));
    // Traefik's access log, both forms, is not its app log.
    assert_eq!(
        parse(br#"{"ClientHost":"10.0.0.1","DownstreamStatus":200,"level":"info","msg":"","time":"2026-11-22T10:00:00Z"}"#),
        Err(ParseError::Format)
    );
    assert_eq!(
        parse(b"10.0.0.1 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"ua\" 1 \"r\" \"u\" 5ms"),
        Err(ParseError::Format)
    );
    assert_eq!(
        parse(br#"{"msg":"x","time":"2026-11-22T10:00:00Z"}"#),
        Err(ParseError::Format)
    );
    assert_eq!(
        parse(br#"{"level":"info","msg":"x"}"#),
        Err(ParseError::Format)
    );
    assert_eq!(
        parse(b"[22-Nov-2026 10:00:00] NOTICE: fpm is running"),
        Err(ParseError::Format)
    );
    assert_eq!(
        parse(b"2026-11-22T10:00:00Z NOPE x"),
        Err(ParseError::Format)
    );
    assert_eq!(parse(b"2026/11/22 10:00:00 x"), Err(ParseError::Format));
    assert_eq!(parse(b"INFO something"), Err(ParseError::Format));
    // Laid out as a time but not one.
    assert_eq!(
        parse(b"2026-02-30T10:00:00Z ERR x"),
        Err(ParseError::bad(Field::Time, 0))
    );
    assert_eq!(
        parse(br#"{"level":"info","time":"2026-02-30T10:00:00Z"}"#),
        Err(ParseError::bad(Field::Time, 24))
    );
    assert_eq!(
        parse(b"time=\"2026-02-30T10:00:00Z\" level=info msg=x"),
        Err(ParseError::bad(Field::Time, 6))
    );
    assert_eq!(
        parse(b"time=\"2026-11-22T10:00:00Z\" level=loud msg=x"),
        Err(ParseError::bad(Field::Level, 34))
    );
    assert_eq!(
        parse(b"time=\"2026-11-22T10:00:00Z\""),
        Err(ParseError::Truncated {
            field: Field::Level
        })
    );
}

proptest! {
    /// Lines written the way zerolog's ConsoleWriter writes them (no
    /// colour) read back to their message and fields.
    #[test]
    fn parses_what_zerolog_writes(
        level in prop::sample::select(vec!["TRC", "DBG", "INF", "WRN", "ERR", "FTL", "PNC"]),
        message in "[A-Za-z0-9 .,:*()/-]{0,60}",
        error in prop::option::of("[ -~]{0,30}"),
        router in prop::option::of("[a-z0-9-]{1,20}@(docker|file|kubernetes)"),
        provider in prop::option::of("[a-z]{1,10}"),
    ) {
        let message = message.trim();
        let quote = |v: &str| {
            if v.is_empty() || v.bytes().all(|c| c > b' ' && c != b'"' && c != b'\\' && c < 0x7f) {
                v.to_string()
            } else {
                format!("{v:?}")
            }
        };
        let mut line = format!("2026-11-22T10:00:00Z {level}");
        if !message.is_empty() {
            line += &format!(" {message}");
        }
        let mut fields = Vec::new();
        if let Some(e) = &error {
            fields.push(format!("error={}", quote(e)));
        }
        if let Some(p) = &provider {
            fields.push(format!("providerName={p}"));
        }
        if let Some(r) = &router {
            fields.push(format!("routerName={r}"));
        }
        if !fields.is_empty() {
            line += " ";
            line += &fields.join(" ");
        }
        let r = parse(line.as_bytes()).unwrap();
        prop_assert_eq!(r.level_raw, level.as_bytes());
        prop_assert_eq!(r.message, message.as_bytes());
        prop_assert_eq!(r.router, router.as_deref().unwrap_or("").as_bytes());
        let attrs = fields.join(" ");
        prop_assert_eq!(r.attrs, attrs.as_bytes());
    }
}

#[test]
fn never_panics() {
    let lines: Vec<&[u8]> = APP_LOG
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    crate::parse::test_support::never_panics(|line| drop(parse(line)), &lines);
}

#[test]
fn detect_picks_traefik_app() {
    let lines: Vec<&[u8]> = APP_LOG
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        crate::parse::detect(lines.iter().copied()),
        Some(LogFormat::TraefikApp)
    );
    // Each shape on its own, first lines of a file.
    for range in [0..11, 11..14, 14..18, 18..22, 22..28, 28..33, 33..36] {
        let part = &lines[range.clone()];
        assert_eq!(
            crate::parse::detect(part.iter().copied()),
            Some(LogFormat::TraefikApp),
            "{range:?}"
        );
    }
    // A JSON access log stays an access log.
    let access: &[&[u8]] = &[br#"{"ClientAddr":"[::1]:59922","ClientHost":"::1","DownstreamStatus":200,"RequestMethod":"GET","level":"info","msg":"","time":"2020-01-06T18:23:03+01:00"}"#];
    assert_eq!(
        crate::parse::detect(access.iter().copied()),
        Some(LogFormat::TraefikJson)
    );
}

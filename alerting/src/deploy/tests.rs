use super::*;

const T: i64 = 1_800_000_000;

fn ev(json: &str) -> DeployEvent {
    DeployEvent::from_json(json.as_bytes(), "ci").unwrap()
}

/// Health: `bad` errors in `total` requests, 1.44% allowed.
fn health(total: u64, bad: u64) -> impl FnMut(&str, i64) -> Option<(Counts, f64)> {
    move |_, _| Some((Counts { total, bad }, 0.0144))
}

fn outcome(t: &DeployTracker, site: &str) -> Option<Outcome> {
    t.history()
        .chain(t.active())
        .filter(|r| r.site == site)
        .last()
        .and_then(|r| r.outcome)
}

#[test]
fn on_time_stalled_slow_and_unhealthy() {
    let cfg = DeployConfig::default();
    let mut t = DeployTracker::default();
    for site in ["ontime", "stalled", "slow", "unhealthy"] {
        t.apply(
            ev(&format!(
                r#"{{"site":"{site}","version":"v2","started_at":{T},"deadline_secs":300}}"#
            )),
            &cfg,
            T,
        )
        .unwrap();
    }
    // ontime: done after 100 s, healthy through the soak.
    t.apply(
        ev(&format!(
            r#"{{"site":"ontime","version":"v2","event":"finished","at":{}}}"#,
            T + 100
        )),
        &cfg,
        T + 100,
    )
    .unwrap();
    // stalled: the webhook (or ProgressDeadlineExceeded) says so.
    t.apply(ev(r#"{"site":"stalled","version":"v2","event":"failed","reason":"ProgressDeadlineExceeded"}"#), &cfg, T + 150).unwrap();
    let mut h = |site: &str, _since: i64| match site {
        "unhealthy" => Some((
            Counts {
                total: 1000,
                bad: 50,
            },
            0.0144,
        )),
        _ => Some((
            Counts {
                total: 1000,
                bad: 1,
            },
            0.0144,
        )),
    };
    t.evaluate(&cfg, T + 160, 100, &mut h);
    assert_eq!(outcome(&t, "stalled"), Some(Outcome::Stalled));
    assert_eq!(outcome(&t, "unhealthy"), Some(Outcome::Unhealthy));
    assert_eq!(outcome(&t, "ontime"), None, "soaking");
    t.evaluate(&cfg, T + 220, 100, &mut h);
    assert_eq!(outcome(&t, "ontime"), Some(Outcome::Passed));
    assert_eq!(outcome(&t, "slow"), None);
    t.evaluate(&cfg, T + 300, 100, &mut h);
    assert_eq!(outcome(&t, "slow"), Some(Outcome::Slow));
    // Still an alert while rolling; done late later.
    t.apply(
        ev(r#"{"site":"slow","version":"v2","event":"finished"}"#),
        &cfg,
        T + 400,
    )
    .unwrap();
    t.evaluate(&cfg, T + 400, 100, &mut h);
    let mut c: Vec<(String, String)> = t
        .conditions(&cfg, T + 400)
        .into_iter()
        .map(|c| (c.labels["site"].clone(), c.labels["outcome"].clone()))
        .collect();
    c.sort();
    assert_eq!(
        c,
        [
            ("slow".into(), "slow".into()),
            ("stalled".into(), "stalled".into()),
            ("unhealthy".into(), "unhealthy".into())
        ]
    );
    let slow = t
        .conditions(&cfg, T + 400)
        .into_iter()
        .find(|c| c.labels["site"] == "slow")
        .unwrap();
    assert!(
        slow.annotations["summary"].contains("deadline of 300 s (400 s elapsed, done late)"),
        "{:?}",
        slow.annotations
    );
    assert_eq!(t.stats.outcomes["passed"], 1);
    assert_eq!(t.stats.deadline_misses, 2);
    assert_eq!(
        t.stats.duration_buckets.iter().sum::<u64>(),
        2,
        "ontime and slow were done"
    );
    // A newer rollout that passes ends the site's alert; the TTL ends the rest.
    t.apply(
        ev(&format!(
            r#"{{"site":"slow","version":"v3","started_at":{}}}"#,
            T + 500
        )),
        &cfg,
        T + 500,
    )
    .unwrap();
    t.apply(
        ev(r#"{"site":"slow","version":"v3","event":"finished"}"#),
        &cfg,
        T + 510,
    )
    .unwrap();
    t.evaluate(&cfg, T + 700, 100, &mut h);
    assert!(
        t.conditions(&cfg, T + 700)
            .iter()
            .all(|c| c.labels["site"] != "slow")
    );
    assert!(t.conditions(&cfg, T + 160 + 3600).is_empty());
}

#[test]
fn low_traffic_is_not_unhealthy_and_duplicates_are_one_rollout() {
    let cfg = DeployConfig::default();
    let mut t = DeployTracker::default();
    let start = format!(r#"{{"site":"a","version":"v1","started_at":{T}}}"#);
    t.apply(ev(&start), &cfg, T).unwrap();
    t.apply(
        ev(&format!(
            r#"{{"site":"a","version":"v1","started_at":{}}}"#,
            T + 30
        )),
        &cfg,
        T + 30,
    )
    .unwrap();
    assert_eq!(t.active().next().unwrap().started_at, T);
    t.evaluate(&cfg, T + 60, 100, &mut health(3, 1));
    assert_eq!(outcome(&t, "a"), None);
    // A new version supersedes the one rolling.
    t.apply(ev(r#"{"site":"a","version":"v2"}"#), &cfg, T + 70)
        .unwrap();
    assert_eq!(
        t.history().next().unwrap().outcome,
        Some(Outcome::Superseded)
    );
    assert_eq!(t.active().next().unwrap().deadline_at, T + 70 + 600);
}

#[test]
fn bad_events_are_named() {
    let cases = [
        (r#"{"version":"v1"}"#, "body"),
        (r#"{"site":"","version":"v1"}"#, "site"),
        (r#"{"site":"a","version":"v1","event":"exploded"}"#, "event"),
        (
            r#"{"site":"a","version":"v1","started_at":"yesterday"}"#,
            "started_at",
        ),
        (
            r#"{"site":"a","version":"v1","deadline_secs":0}"#,
            "deadline_secs",
        ),
        (
            r#"{"site":"a","version":"v1","deadline":"2026-12-04T10:00:00Z"}"#,
            "deadline",
        ),
        (
            r#"{"site":"a","version":"v1","deadline_secs":5,"deadline":"2026-12-04T10:00:00Z"}"#,
            "deadline",
        ),
        (r#"{"site":"a","version":"v1","colour":"red"}"#, "body"),
        (
            r#"{"site":"a","version":"v1","deadline_secs":18446744073709551615}"#,
            "deadline_secs",
        ),
        ("not json", "body"),
    ];
    for (body, field) in cases {
        match DeployEvent::from_json(body.as_bytes(), "x") {
            Err(EventError::Invalid { field: f, message }) => {
                assert_eq!(f, field, "{body}: {message}")
            }
            other => panic!("{body}: {other:?}"),
        }
    }
    let e = ev(
        r#"{"site":"a","version":"v1","started_at":"2026-12-04T10:00:00Z","deadline":"2026-12-04T10:15:00Z"}"#,
    );
    assert_eq!(
        e.kind,
        DeployEventKind::Started {
            deadline_secs: Some(900)
        }
    );
    let cfg = DeployConfig::default();
    let mut t = DeployTracker::default();
    assert_eq!(
        t.apply(
            ev(r#"{"site":"a","version":"v1","event":"finished"}"#),
            &cfg,
            T
        ),
        Err(EventError::NoRollout("a".into()))
    );
    t.apply(ev(r#"{"site":"a","version":"v1"}"#), &cfg, T)
        .unwrap();
    assert!(matches!(
        t.apply(
            ev(r#"{"site":"a","version":"v9","event":"finished"}"#),
            &cfg,
            T
        ),
        Err(EventError::OtherVersion { .. })
    ));
}

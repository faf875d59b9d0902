use super::super::state::{Condition, ForSecs};
use super::*;

const NOW: i64 = 1_800_000_000;
const FOR: ForSecs = ForSecs { page: 0, ticket: 0 };

fn cond(site: &str, slo: &str, sev: &str) -> Condition {
    let labels = [
        ("alertname", "SLOBurn"),
        ("site", site),
        ("slo", slo),
        ("severity", sev),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    Condition {
        labels,
        annotations: BTreeMap::new(),
    }
}

fn route(receiver: &str) -> Route {
    Route {
        receiver: receiver.into(),
        ..Route::default()
    }
}

fn not_muted(_: u64, _: &Tracked) -> bool {
    false
}

/// Ticks at `t`, marks every notification sent, returns (receiver,
/// firing sites/slos, resolved ones).
fn tick(
    d: &mut Dispatcher,
    routes: &[Route],
    set: &AlertSet,
    t: i64,
) -> Vec<(String, Vec<String>, Vec<String>)> {
    let out = d.tick(routes, set, &not_muted, t);
    for o in &out {
        d.sent(o, t);
    }
    out.iter()
        .map(|o| {
            let names = |st: AlertState| {
                o.alerts
                    .iter()
                    .filter(|a| a.alert.state == st)
                    .map(|a| format!("{}/{}", a.alert.labels["site"], a.alert.labels["slo"]))
                    .collect()
            };
            (
                o.receiver.clone(),
                names(AlertState::Firing),
                names(AlertState::Resolved),
            )
        })
        .collect()
}

#[test]
fn group_wait_interval_repeat_and_resolution() {
    let routes = [route("oncall")];
    let mut d = Dispatcher::default();
    let mut set = AlertSet::default();
    set.update(vec![cond("a", "availability", "page")], FOR, NOW);
    assert!(tick(&mut d, &routes, &set, NOW).is_empty(), "group_wait");
    assert!(tick(&mut d, &routes, &set, NOW + 29).is_empty());
    let n = tick(&mut d, &routes, &set, NOW + 30);
    assert_eq!(
        n,
        [("oncall".into(), vec!["a/availability".into()], vec![])]
    );
    // Nothing new: silence until the repeat interval.
    assert!(tick(&mut d, &routes, &set, NOW + 330).is_empty());
    // A second alert in the same group (same alertname and site) goes
    // out at the next interval, with the first.
    set.update(
        vec![
            cond("a", "availability", "page"),
            cond("a", "latency", "page"),
        ],
        FOR,
        NOW + 400,
    );
    assert!(tick(&mut d, &routes, &set, NOW + 400).is_empty());
    let n = tick(&mut d, &routes, &set, NOW + 630);
    assert_eq!(n[0].1, ["a/availability", "a/latency"]);
    // Another site is another group.
    set.update(
        vec![
            cond("a", "availability", "page"),
            cond("a", "latency", "page"),
            cond("b", "availability", "ticket"),
        ],
        FOR,
        NOW + 640,
    );
    assert!(tick(&mut d, &routes, &set, NOW + 640).is_empty());
    let n = tick(&mut d, &routes, &set, NOW + 670);
    assert_eq!(
        n,
        [("oncall".into(), vec!["b/availability".into()], vec![])]
    );
    // The repeat interval, for both groups.
    let t = NOW + 670 + 4 * 3600;
    let n = tick(&mut d, &routes, &set, t);
    assert_eq!(n.len(), 2, "{n:?}");
    // Resolution: at the group's next interval.
    set.update(vec![cond("b", "availability", "ticket")], FOR, t + 10);
    assert!(tick(&mut d, &routes, &set, t + 10).is_empty());
    let n = tick(&mut d, &routes, &set, t + 300);
    assert_eq!(
        n,
        [(
            "oncall".into(),
            vec![],
            vec!["a/availability".into(), "a/latency".into()]
        )]
    );
    // Told once.
    assert!(tick(&mut d, &routes, &set, t + 600).is_empty());
}

#[test]
fn resolve_immediately_and_no_resolved() {
    let mut r = route("fast");
    r.resolve_immediately = true;
    let mut quiet = route("quiet");
    quiet.send_resolved = false;
    quiet.matchers = vec![Matcher::parse("severity=\"ticket\"").unwrap()];
    let routes = [quiet, r];
    let mut d = Dispatcher::default();
    let mut set = AlertSet::default();
    set.update(
        vec![
            cond("a", "availability", "page"),
            cond("b", "availability", "ticket"),
        ],
        FOR,
        NOW,
    );
    let mut n = tick(&mut d, &routes, &set, NOW + 30);
    n.sort();
    assert_eq!(
        n.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        ["fast", "quiet"]
    );
    set.update(vec![], FOR, NOW + 40);
    // The page's resolution at once; the ticket's never.
    let n = tick(&mut d, &routes, &set, NOW + 40);
    assert_eq!(n, [("fast".into(), vec![], vec!["a/availability".into()])]);
    assert!(tick(&mut d, &routes, &set, NOW + 400).is_empty());
}

#[test]
fn muted_alerts_are_not_sent_and_a_restart_does_not_page_again() {
    let routes = [route("oncall")];
    let mut d = Dispatcher::default();
    let mut set = AlertSet::default();
    set.update(
        vec![
            cond("a", "availability", "page"),
            cond("b", "availability", "page"),
        ],
        FOR,
        NOW,
    );
    let muted = |_: u64, a: &Tracked| a.labels["site"] == "b";
    let out = d.tick(&routes, &set, &muted, NOW + 30);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].alerts[0].alert.labels["site"], "a");
    d.sent(&out[0], NOW + 30);
    // A restart: the log and the alerts come back from their JSON.
    let d_json = serde_json::to_string(&d).unwrap();
    let s_json = serde_json::to_string(&set).unwrap();
    let mut d2: Dispatcher = serde_json::from_str(&d_json).unwrap();
    let set2: AlertSet = serde_json::from_str(&s_json).unwrap();
    assert_eq!(set2, set);
    let out = d2.tick(&routes, &set2, &muted, NOW + 100);
    assert!(out.is_empty());
    let out = d2.tick(&routes, &set2, &muted, NOW + 130);
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn in_flight_groups_wait_and_failures_come_back() {
    let routes = [route("oncall")];
    let mut d = Dispatcher::default();
    let mut set = AlertSet::default();
    set.update(vec![cond("a", "availability", "page")], FOR, NOW);
    let out = d.tick(&routes, &set, &not_muted, NOW + 30);
    assert_eq!(out.len(), 1);
    // Still in flight at the next interval: not sent twice.
    assert!(d.tick(&routes, &set, &not_muted, NOW + 330).is_empty());
    d.failed(&out[0], NOW + 340, 60);
    assert!(d.tick(&routes, &set, &not_muted, NOW + 350).is_empty());
    assert_eq!(d.tick(&routes, &set, &not_muted, NOW + 400).len(), 1);
}

#[test]
fn routes_take_the_first_match_unless_continue() {
    let mut tickets = route("tickets");
    tickets.matchers = vec![Matcher::parse("severity=\"ticket\"").unwrap()];
    tickets.continue_matching = true;
    let routes = [tickets, route("all")];
    let mut d = Dispatcher::default();
    let mut set = AlertSet::default();
    set.update(
        vec![
            cond("a", "availability", "ticket"),
            cond("b", "availability", "page"),
        ],
        FOR,
        NOW,
    );
    let mut n: Vec<String> = tick(&mut d, &routes, &set, NOW + 30)
        .into_iter()
        .map(|(r, f, _)| format!("{r}:{}", f.join(",")))
        .collect();
    n.sort();
    assert_eq!(
        n,
        [
            "all:a/availability",
            "all:b/availability",
            "tickets:a/availability"
        ]
    );
}

#[test]
fn a_flicker_still_tells_the_resolution_and_a_later_fire_pages() {
    let routes = [route("oncall")];
    let mut d = Dispatcher::default();
    let mut set = AlertSet::default();
    let pending = ForSecs {
        page: 60,
        ticket: 60,
    };
    let c = || vec![cond("a", "availability", "page")];
    set.update(c(), pending, NOW);
    set.update(c(), pending, NOW + 60);
    assert_eq!(
        tick(&mut d, &routes, &set, NOW + 90)[0].1,
        ["a/availability"]
    );
    // Resolves, is true again (pending) and false again, all within the
    // group interval: the resolution is still told.
    set.update(vec![], pending, NOW + 100);
    set.update(c(), pending, NOW + 110);
    set.update(vec![], pending, NOW + 120);
    let n = tick(&mut d, &routes, &set, NOW + 390);
    assert_eq!(
        n,
        [("oncall".into(), vec![], vec!["a/availability".into()])]
    );
    // Firing again later is a new page, not held back by the log.
    set.update(c(), pending, NOW + 500);
    set.update(c(), pending, NOW + 560);
    assert_eq!(
        tick(&mut d, &routes, &set, NOW + 700)[0].1,
        ["a/availability"]
    );
}

#[test]
fn firing_again_after_an_unheard_resolution_pages() {
    // The resolution was never told (the receiver was down, say) and the
    // resolved alert was forgotten: firing again must page, not wait for
    // the repeat interval.
    let routes = [route("oncall")];
    let mut d = Dispatcher::default();
    let mut set = AlertSet::default();
    set.update(vec![cond("a", "availability", "page")], FOR, NOW);
    let out = d.tick(&routes, &set, &not_muted, NOW + 30);
    d.sent(&out[0], NOW + 30);
    set.update(vec![], FOR, NOW + 40);
    set.update(
        vec![],
        FOR,
        NOW + 40 + super::super::state::RESOLVED_RETENTION_SECS,
    );
    d.gc(&routes, &set);
    set.update(vec![cond("a", "availability", "page")], FOR, NOW + 2000);
    let n = tick(&mut d, &routes, &set, NOW + 2030);
    assert_eq!(n.len(), 1, "{n:?}");
}

//! Inhibition, as Alertmanager's `inhibit_rules`: a firing alert matching
//! a rule's `source_matchers` mutes the alerts matching its
//! `target_matchers` that have the same values for every `equal` label.
//! An alert never inhibits itself. The defaults: a page mutes the ticket
//! for the same site and SLO, and a farm-wide incident mutes every
//! per-site alert.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::matcher::{Matcher, all_match};

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRule {
    /// What the muting alert matches.
    pub source_matchers: Vec<Matcher>,
    /// What the muted alerts match.
    pub target_matchers: Vec<Matcher>,
    /// Labels both must have equal (a label both lack counts as equal).
    #[serde(default)]
    pub equal: Vec<String>,
}

/// The alert name of the farm-wide incident.
pub const FARM_INCIDENT: &str = "SitepulseFarmIncident";

/// The default rules.
pub fn default_rules() -> Vec<InhibitRule> {
    let m = |s: &str| Matcher::parse(s).expect("a valid built-in matcher");
    vec![
        InhibitRule {
            source_matchers: vec![m("severity=\"page\"")],
            target_matchers: vec![m("severity=\"ticket\"")],
            equal: vec!["alertname".into(), "site".into(), "slo".into()],
        },
        InhibitRule {
            source_matchers: vec![m(&format!("alertname=\"{FARM_INCIDENT}\""))],
            target_matchers: vec![m("site=~\".+\"")],
            equal: Vec::new(),
        },
    ]
}

/// The rules' verdict on `target`, given every firing alert's labels
/// (`target` among them or not): the labels of the first alert muting
/// it.
pub fn inhibited_by<'a>(
    rules: &[InhibitRule],
    firing: &'a [BTreeMap<String, String>],
    target: &BTreeMap<String, String>,
) -> Option<&'a BTreeMap<String, String>> {
    for r in rules {
        if !all_match(&r.target_matchers, target) {
            continue;
        }
        let found = firing.iter().find(|src| {
            *src != target
                && all_match(&r.source_matchers, src)
                && r.equal.iter().all(|l| src.get(l) == target.get(l))
        });
        if found.is_some() {
            return found;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::labels;

    #[test]
    fn a_page_mutes_its_ticket_and_a_farm_incident_mutes_sites() {
        let rules = default_rules();
        let page = labels(&[
            ("alertname", "SLOBurn"),
            ("site", "a"),
            ("slo", "availability"),
            ("severity", "page"),
        ]);
        let ticket = labels(&[
            ("alertname", "SLOBurn"),
            ("site", "a"),
            ("slo", "availability"),
            ("severity", "ticket"),
        ]);
        let other = labels(&[
            ("alertname", "SLOBurn"),
            ("site", "b"),
            ("slo", "availability"),
            ("severity", "ticket"),
        ]);
        let firing = vec![page.clone(), ticket.clone(), other.clone()];
        assert_eq!(inhibited_by(&rules, &firing, &ticket), Some(&page));
        assert_eq!(inhibited_by(&rules, &firing, &other), None);
        assert_eq!(inhibited_by(&rules, &firing, &page), None);
        let farm = labels(&[("alertname", FARM_INCIDENT), ("severity", "page")]);
        let firing = vec![farm.clone(), page.clone()];
        assert_eq!(inhibited_by(&rules, &firing, &page), Some(&farm));
        assert_eq!(inhibited_by(&rules, &firing, &farm), None, "never itself");
    }
}

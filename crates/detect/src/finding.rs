//! Findings: what a rule found, grouped so a responder reads one line per rule and identity
//! (or per rule and pod), with every event it rests on.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::rule::{RuleMeta, Severity, Threshold, fill_response};

#[derive(Debug, Clone, Serialize)]
pub struct RuleRef {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub rule: RuleRef,
    pub severity: Severity,
    /// ATT&CK technique ids.
    pub attack: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(rename = "sourceIPs", skip_serializing_if = "Vec::is_empty")]
    pub source_ips: Vec<String>,
    /// `namespace/name` of the objects involved (pods for runtime findings).
    pub objects: Vec<String>,
    /// Every audit event the finding rests on (audit findings).
    #[serde(rename = "auditIDs", skip_serializing_if = "Vec::is_empty")]
    pub audit_ids: Vec<String>,
    /// What happened inside the workload (runtime findings): processes and connections.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub first: String,
    pub last: String,
    pub count: usize,
    pub suggested_response: String,
    pub description: String,
}

/// One event a rule matched, reduced to what a finding reports.
#[derive(Debug, Clone)]
pub struct Hit {
    pub rule: usize,
    /// What groups hits into one finding besides the rule (identity, or pod).
    pub subject: String,
    pub source_ips: Vec<String>,
    pub namespace: String,
    pub name: String,
    pub id: String,
    pub time: String,
    pub evidence: Option<String>,
    pub node: Option<String>,
}

struct Group<'h> {
    hits: Vec<&'h Hit>,
}

/// Group hits into findings: one per (rule, subject); threshold rules only where the count is
/// reached within the window (per subject and source address). Sorted by severity, then time.
pub fn findings(
    rules: &[&RuleMeta],
    thresholds: &[Option<Threshold>],
    hits: &[Hit],
    subject_is_user: bool,
) -> Vec<Finding> {
    let mut groups: BTreeMap<(usize, String), Group<'_>> = BTreeMap::new();
    for hit in hits {
        groups
            .entry((hit.rule, hit.subject.clone()))
            .or_insert_with(|| Group { hits: Vec::new() })
            .hits
            .push(hit);
    }
    let mut out = Vec::new();
    for ((rule_index, subject), group) in groups {
        let meta = rules[rule_index];
        let hits = match thresholds.get(rule_index).copied().flatten() {
            Some(threshold) => over_threshold(group.hits, threshold),
            None => group.hits,
        };
        if hits.is_empty() {
            continue;
        }
        out.push(finding(meta, &subject, &hits, subject_is_user));
    }
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.first.cmp(&b.first))
            .then_with(|| a.rule.id.cmp(&b.rule.id))
    });
    out
}

/// The hits that fall in some window of `window_seconds` holding at least `count` hits from
/// one source address.
fn over_threshold(hits: Vec<&Hit>, threshold: Threshold) -> Vec<&Hit> {
    let mut by_source: BTreeMap<String, Vec<(&Hit, i64)>> = BTreeMap::new();
    for hit in hits {
        let Some(seconds) = hit.time.parse::<jiff::Timestamp>().ok().map(|t| t.as_second()) else { continue };
        by_source
            .entry(hit.source_ips.first().cloned().unwrap_or_default())
            .or_default()
            .push((hit, seconds));
    }
    let mut kept: Vec<&Hit> = Vec::new();
    for (_, mut list) in by_source {
        list.sort_by_key(|(_, t)| *t);
        let mut take = vec![false; list.len()];
        let mut start = 0;
        for end in 0..list.len() {
            while list[end].1 - list[start].1 > threshold.window_seconds {
                start += 1;
            }
            if end + 1 - start >= threshold.count {
                take[start..=end].iter_mut().for_each(|t| *t = true);
            }
        }
        kept.extend(list.iter().zip(take).filter(|(_, t)| *t).map(|((h, _), _)| *h));
    }
    kept
}

fn finding(meta: &RuleMeta, subject: &str, hits: &[&Hit], subject_is_user: bool) -> Finding {
    let mut ids = BTreeSet::new();
    let mut ordered_ids = Vec::new();
    let mut ips = BTreeSet::new();
    let mut objects = BTreeSet::new();
    let mut evidence = BTreeSet::new();
    let (mut first, mut last) = (String::new(), String::new());
    for hit in hits {
        // The same request is logged at several stages; it is one event for the finding.
        if ids.insert(hit.id.as_str()) {
            ordered_ids.push(hit.id.clone());
        }
        ips.extend(hit.source_ips.iter().cloned());
        if !hit.name.is_empty() || !hit.namespace.is_empty() {
            objects.insert(if hit.namespace.is_empty() {
                hit.name.clone()
            } else {
                format!("{}/{}", hit.namespace, hit.name)
            });
        }
        evidence.extend(hit.evidence.iter().cloned());
        if !hit.time.is_empty() {
            if first.is_empty() || hit.time < first {
                first = hit.time.clone();
            }
            if hit.time > last {
                last = hit.time.clone();
            }
        }
    }
    let example = hits.first().expect("a finding has hits");
    let response = fill_response(&meta.response, subject, &example.namespace, &example.name);
    Finding {
        rule: RuleRef { id: meta.id.clone(), title: meta.title.clone() },
        severity: meta.severity,
        attack: meta.attack.clone(),
        user: subject_is_user.then(|| subject.to_string()),
        source_ips: ips.into_iter().collect(),
        objects: objects.into_iter().collect(),
        audit_ids: if subject_is_user { ordered_ids.clone() } else { Vec::new() },
        evidence: evidence.into_iter().collect(),
        node: example.node.clone(),
        first,
        last,
        count: ordered_ids.len(),
        suggested_response: response,
        description: meta.description.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Origin;

    fn meta() -> RuleMeta {
        RuleMeta {
            id: "r".into(),
            title: "t".into(),
            description: "d".into(),
            severity: Severity::High,
            attack: vec!["T1".into()],
            response: "kir audit timeline --user {user}".into(),
            origin: Origin::Builtin,
        }
    }

    fn hit(id: &str, user: &str, ip: &str, time: &str) -> Hit {
        Hit {
            rule: 0,
            subject: user.into(),
            source_ips: vec![ip.into()],
            namespace: "ns".into(),
            name: "n".into(),
            id: id.into(),
            time: time.into(),
            evidence: None,
            node: None,
        }
    }

    #[test]
    fn hits_group_per_rule_and_user_without_duplicate_stages() {
        let m = meta();
        let hits = vec![
            hit("a", "eve", "1.1.1.1", "2026-01-01T00:00:02Z"),
            hit("a", "eve", "1.1.1.1", "2026-01-01T00:00:02Z"),
            hit("b", "eve", "2.2.2.2", "2026-01-01T00:00:01Z"),
            hit("c", "bob", "1.1.1.1", "2026-01-01T00:00:03Z"),
        ];
        let found = findings(&[&m], &[None], &hits, true);
        assert_eq!(found.len(), 2);
        let eve = found.iter().find(|f| f.user.as_deref() == Some("eve")).unwrap();
        assert_eq!(eve.audit_ids, ["a", "b"]);
        assert_eq!(eve.count, 2);
        assert_eq!(eve.source_ips, ["1.1.1.1", "2.2.2.2"]);
        assert_eq!((eve.first.as_str(), eve.last.as_str()), ("2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"));
        assert_eq!(eve.suggested_response, "kir audit timeline --user eve");
    }

    #[test]
    fn thresholds_need_enough_hits_inside_the_window() {
        let m = meta();
        let threshold = Some(Threshold { count: 3, window_seconds: 60 });
        let spread: Vec<Hit> = (0..5)
            .map(|i| hit(&format!("s{i}"), "eve", "1.1.1.1", &format!("2026-01-01T00:0{i}:00Z")))
            .collect();
        assert!(findings(&[&m], &[threshold], &spread, true).is_empty(), "one a minute is no burst");
        let mut burst = spread.clone();
        burst.extend(
            (0..3).map(|i| hit(&format!("b{i}"), "eve", "1.1.1.1", &format!("2026-01-01T00:07:0{i}Z"))),
        );
        let found = findings(&[&m], &[threshold], &burst, true);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].audit_ids, ["b0", "b1", "b2"]);
    }
}

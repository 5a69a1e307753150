//! `kir detect audit`: every rule (built-in, Sigma, baseline) over every event of a scan.

use std::collections::HashMap;

use kir_audit::{Event, Format, Processor, footprint::Footprint};

use crate::{
    audit::{AuditField, AuditRecord},
    baseline::{Baseline, baseline_rules},
    finding::{Finding, Grouped, Grouping, Hit},
    rule::{Rule, RuleMeta},
};

pub struct AuditDetector {
    rules: Vec<Rule<AuditField>>,
    baseline: Option<(Baseline, Vec<RuleMeta>)>,
    /// Rules that can only match events of certain resources, by resource ("" = none)...
    by_resource: HashMap<String, Vec<usize>>,
    /// ...and the rules that may match any event. Most events concern a handful of busy
    /// resources (leases, nodes, endpoints) that few rules care about.
    any_resource: Vec<usize>,
    /// kir's own requests, when a case says what they were (`--case`).
    footprint: Option<Footprint>,
}

impl AuditDetector {
    pub fn new(rules: Vec<Rule<AuditField>>, baseline: Option<Baseline>) -> AuditDetector {
        let mut by_resource: HashMap<String, Vec<usize>> = HashMap::new();
        let mut any_resource = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
            match rule.detection.required_values(&|f| *f == AuditField::Resource) {
                Some(resources) => {
                    for resource in resources {
                        by_resource.entry(resource).or_default().push(index);
                    }
                }
                None => any_resource.push(index),
            }
        }
        AuditDetector {
            rules,
            baseline: baseline.map(|b| (b, baseline_rules())),
            by_resource,
            any_resource,
            footprint: None,
        }
    }

    /// Tell kir's own requests (as `footprint` accounts for them) apart from everyone else's.
    pub fn with_footprint(mut self, footprint: Footprint) -> AuditDetector {
        self.footprint = Some(footprint);
        self
    }

    pub fn rules(&self) -> impl Iterator<Item = &RuleMeta> {
        self.rules.iter().map(|r| &r.meta).chain(self.baseline.iter().flat_map(|(_, metas)| metas.iter()))
    }

    /// Where the hits of a scan go, block by block, to become findings.
    pub fn grouping(&self) -> Grouping {
        let rules = self.rules.iter().map(|r| Grouped { threshold: r.threshold, denied: r.meta.denied });
        let baseline = self.baseline.iter().flat_map(|(_, metas)| metas.iter());
        let baseline = baseline.map(|m| Grouped { threshold: None, denied: m.denied });
        Grouping::new(rules.chain(baseline).collect(), true)
    }

    pub fn findings(&self, grouping: Grouping) -> Vec<Finding> {
        let metas: Vec<&RuleMeta> = self.rules().collect();
        grouping.findings(&metas)
    }
}

impl Processor for AuditDetector {
    type Output = Vec<Hit>;

    fn output(&self) -> Vec<Hit> {
        Vec::new()
    }

    fn event(&self, event: &Event<'_>, raw: Option<&str>, _format: Format, out: &mut Vec<Hit>) {
        // The same request is logged again with its answer (ResponseStarted, ResponseComplete),
        // and only the answer tells what was done from what was tried.
        let responder = self.footprint.as_ref().is_some_and(|f| f.accounts_for(event));
        if &*event.stage != "RequestReceived" {
            let record = AuditRecord::new(event, raw);
            let resource = event.resource();
            let specific = if resource.bytes().any(|b| b.is_ascii_uppercase()) {
                self.by_resource.get(&resource.to_ascii_lowercase())
            } else {
                self.by_resource.get(resource)
            };
            for &index in self.any_resource.iter().chain(specific.into_iter().flatten()) {
                if self.rules[index].detection.matches(&record) {
                    out.push(hit(index, event, responder));
                }
            }
        }
        if let Some((baseline, _)) = &self.baseline {
            for departure in baseline.departures(event) {
                out.push(hit(self.rules.len() + departure, event, responder));
            }
        }
    }
}

/// Whether the request was denied or failed: an answer of 400 or more (401, 403, 404, 409,
/// 422, ...) or the authorizer's `forbid`. An event without an answer counts as done.
pub fn is_attempt(event: &Event<'_>) -> bool {
    event.code().is_some_and(|code| code >= 400)
        || event.annotation("authorization.k8s.io/decision").is_some_and(|d| d.eq_ignore_ascii_case("forbid"))
}

fn hit(rule: usize, event: &Event<'_>, responder: bool) -> Hit {
    Hit {
        responder,
        attempt: is_attempt(event),
        code: event.code(),
        rule,
        subject: event.effective_user().to_string(),
        source_ips: event.source_ips.iter().map(|s| s.to_string()).collect(),
        namespace: event.namespace().to_string(),
        name: object_name(event),
        id: event.audit_id.to_string(),
        time: event.time_text().to_string(),
        evidence: None,
        node: None,
    }
}

/// The object's name; for creations with a generated name (pods of a ReplicaSet) the API
/// server's answer has it, else the request's `generateName` prefix is all there is.
fn object_name(event: &Event<'_>) -> String {
    if !event.name().is_empty() {
        return event.name().to_string();
    }
    #[derive(serde::Deserialize)]
    struct Object {
        #[serde(default)]
        metadata: Metadata,
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct Metadata {
        #[serde(default)]
        name: String,
        #[serde(default)]
        generate_name: String,
    }
    let metadata = |raw: Option<&serde_json::value::RawValue>| {
        raw.and_then(|r| serde_json::from_str::<Object>(r.get()).ok()).map(|o| o.metadata).unwrap_or_default()
    };
    let response = metadata(event.response_object);
    if !response.name.is_empty() {
        return response.name;
    }
    let request = metadata(event.request_object);
    if !request.name.is_empty() {
        request.name
    } else if !request.generate_name.is_empty() {
        format!("{}*", request.generate_name)
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::{AUDIT_RULE_FILES, audit_rules, parse};

    /// Skipping rules by resource changes speed, not verdicts: on every example event of every
    /// built-in rule, the engine fires exactly the rules that match when all are tried.
    #[test]
    fn the_resource_index_fires_exactly_what_trying_every_rule_fires() {
        let detector = AuditDetector::new(audit_rules(), None);
        assert!(detector.any_resource.len() < detector.rules.len() / 2, "most rules are indexed");
        for (name, text) in AUDIT_RULE_FILES {
            let file = parse(name, text);
            for event in file.tests.matching.iter().chain(&file.tests.no_match) {
                let json = event.to_string();
                kir_audit::decode(&json, &mut |e, raw, format| {
                    let mut hits = Vec::new();
                    detector.event(e, raw, format, &mut hits);
                    let mut indexed: Vec<usize> = hits.iter().map(|h| h.rule).collect();
                    indexed.sort();
                    let record = AuditRecord::new(e, raw);
                    let all: Vec<usize> = (0..detector.rules.len())
                        .filter(|i| detector.rules[*i].detection.matches(&record))
                        .collect();
                    assert_eq!(indexed, all, "{json}");
                })
                .unwrap();
            }
        }
    }
}

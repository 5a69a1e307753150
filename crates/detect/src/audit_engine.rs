//! `kir detect audit`: every rule (built-in, Sigma, baseline) over every event of a scan.

use kir_audit::{Event, Format, Processor};

use crate::{
    audit::{AuditField, AuditRecord},
    baseline::{Baseline, baseline_rules},
    finding::{Finding, Hit, findings},
    rule::{Rule, RuleMeta, Threshold},
};

pub struct AuditDetector {
    rules: Vec<Rule<AuditField>>,
    baseline: Option<(Baseline, Vec<RuleMeta>)>,
}

impl AuditDetector {
    pub fn new(rules: Vec<Rule<AuditField>>, baseline: Option<Baseline>) -> AuditDetector {
        AuditDetector { rules, baseline: baseline.map(|b| (b, baseline_rules())) }
    }

    pub fn rules(&self) -> impl Iterator<Item = &RuleMeta> {
        self.rules.iter().map(|r| &r.meta).chain(self.baseline.iter().flat_map(|(_, metas)| metas.iter()))
    }

    /// Turn the hits of a scan into findings.
    pub fn findings(&self, hits: &[Hit]) -> Vec<Finding> {
        let metas: Vec<&RuleMeta> = self.rules().collect();
        let thresholds: Vec<Option<Threshold>> = self.rules.iter().map(|r| r.threshold).collect();
        findings(&metas, &thresholds, hits, true)
    }
}

impl Processor for AuditDetector {
    type Output = Vec<Hit>;

    fn output(&self) -> Vec<Hit> {
        Vec::new()
    }

    fn event(&self, event: &Event<'_>, raw: Option<&str>, _format: Format, out: &mut Vec<Hit>) {
        let record = AuditRecord::new(event, raw);
        for (index, rule) in self.rules.iter().enumerate() {
            if rule.detection.matches(&record) {
                out.push(hit(index, event));
            }
        }
        if let Some((baseline, _)) = &self.baseline {
            for departure in baseline.departures(event) {
                out.push(hit(self.rules.len() + departure, event));
            }
        }
    }
}

fn hit(rule: usize, event: &Event<'_>) -> Hit {
    Hit {
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

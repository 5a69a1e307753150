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
        name: event.name().to_string(),
        id: event.audit_id.to_string(),
        time: event.time_text().to_string(),
        evidence: None,
        node: None,
    }
}

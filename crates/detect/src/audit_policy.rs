//! Does an API server's audit policy log what kir's rules read? Each built-in rule's own
//! example events say which requests it looks at; its conditions say how much of them it reads
//! (metadata, the request body, the response body). The policy is evaluated the way the API
//! server does (first matching rule wins) for each example, and every rule whose events would
//! be dropped or logged too thinly is a gap, with the policy rule that decided it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::builtin;

/// How much of a request the audit log keeps, in the API server's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
pub enum Level {
    None,
    Metadata,
    Request,
    RequestResponse,
}

/// An `audit.k8s.io/v1` Policy: only what decides a level.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    pub level: Level,
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub user_groups: Vec<String>,
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default)]
    pub resources: Vec<GroupResources>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupResources {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub resource_names: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("not YAML: {0}")]
    Yaml(String),
    #[error("not an audit policy: kind is {kind:?} (expected Policy of audit.k8s.io/v1)")]
    NotAPolicy { kind: String },
}

impl Policy {
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let policy: Policy = serde_saphyr::from_str(text).map_err(|e| PolicyError::Yaml(e.to_string()))?;
        if policy.kind != "Policy" || !policy.api_version.starts_with("audit.k8s.io/") {
            return Err(PolicyError::NotAPolicy { kind: policy.kind });
        }
        Ok(policy)
    }

    /// The level the API server logs `event` at, and the index of the policy rule that decided
    /// it (`None`: no rule matched, so nothing is logged).
    pub fn level_of(&self, event: &Value) -> (Level, Option<usize>) {
        match self.rules.iter().position(|rule| rule.matches(event)) {
            Some(i) => (self.rules[i].level, Some(i)),
            None => (Level::None, None),
        }
    }
}

impl PolicyRule {
    fn matches(&self, event: &Value) -> bool {
        let text = |pointer: &str| event.pointer(pointer).and_then(Value::as_str).unwrap_or("");
        if !self.users.is_empty() && !self.users.iter().any(|u| u == text("/user/username")) {
            return false;
        }
        if !self.user_groups.is_empty() {
            let groups: Vec<&str> = event
                .pointer("/user/groups")
                .and_then(Value::as_array)
                .map(|g| g.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if !self.user_groups.iter().any(|g| groups.contains(&g.as_str())) {
                return false;
            }
        }
        if !self.verbs.is_empty() && !self.verbs.iter().any(|v| v == text("/verb")) {
            return false;
        }
        let Some(object) = event.get("objectRef").filter(|o| o.is_object()) else {
            // A non-resource request: only rules without resource conditions, or whose URL
            // patterns match, apply.
            if !self.resources.is_empty() || !self.namespaces.is_empty() {
                return false;
            }
            let path = text("/requestURI").split('?').next().unwrap_or("");
            return self.non_resource_urls.is_empty()
                || self.non_resource_urls.iter().any(|p| match p.strip_suffix('*') {
                    Some(prefix) => path.starts_with(prefix),
                    None => path == p,
                });
        };
        if !self.non_resource_urls.is_empty() {
            return false;
        }
        let field = |name: &str| object.get(name).and_then(Value::as_str).unwrap_or("");
        if !self.namespaces.is_empty() && !self.namespaces.iter().any(|n| n == field("namespace")) {
            return false;
        }
        if self.resources.is_empty() {
            return true;
        }
        let (resource, subresource) = (field("resource"), field("subresource"));
        let spelled =
            if subresource.is_empty() { resource.to_string() } else { format!("{resource}/{subresource}") };
        self.resources.iter().any(|gr| {
            if gr.group != "*" && gr.group != field("apiGroup") {
                return false;
            }
            let named = gr.resource_names.is_empty() || gr.resource_names.iter().any(|n| n == field("name"));
            let kind = gr.resources.is_empty()
                || gr.resources.iter().any(|r| {
                    r == "*"
                        || *r == spelled
                        || (r.strip_suffix("/*") == Some(resource) && !subresource.is_empty())
                        || (r.strip_prefix("*/") == Some(subresource) && !subresource.is_empty())
                });
            named && kind
        })
    }
}

/// How much of its events a rule reads: a condition on the request body needs level Request,
/// on the response body RequestResponse; anything else is in every logged event.
pub fn level_needed(detection: &Value) -> Level {
    let text = detection.to_string();
    if text.contains("\"responseObject") {
        Level::RequestResponse
    } else if text.contains("\"requestObject") {
        Level::Request
    } else {
        Level::Metadata
    }
}

/// One built-in rule, as the policy treats the requests it looks at.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleCoverage {
    pub rule: String,
    pub title: String,
    pub needs: Level,
    /// The lowest level the policy gives any of the rule's example events.
    pub logged: Level,
    /// Which policy rule (0-based) decided that lowest level; `None` when no rule matched.
    pub decided_by: Option<usize>,
    /// An example request the rule reads: `verb resource[/subresource]`.
    pub example: String,
}

impl RuleCoverage {
    pub fn covered(&self) -> bool {
        self.logged >= self.needs
    }
}

/// Every built-in audit rule against `policy`, gaps first.
pub fn coverage(policy: &Policy) -> Vec<RuleCoverage> {
    let mut all: Vec<RuleCoverage> = builtin::audit_rule_files()
        .into_iter()
        .filter_map(|file| {
            let needs = level_needed(&file.detection);
            let examples = file.tests.matching.iter().chain(&file.tests.attempt);
            let (logged, decided_by, example) = examples
                .map(|event| {
                    let (level, by) = policy.level_of(event);
                    (level, by, describe(event))
                })
                .min_by_key(|(level, _, _)| *level)?;
            Some(RuleCoverage { rule: file.id, title: file.title, needs, logged, decided_by, example })
        })
        .collect();
    all.sort_by_key(|c| (c.covered(), c.rule.clone()));
    all
}

/// One built-in rule, as a sample of a real audit log shows the requests it looks at.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SampleCoverage {
    pub rule: String,
    pub title: String,
    pub needs: Level,
    /// The lowest level the sample holds such requests at; `None` when it holds none of them
    /// (the policy may drop them, or nobody made one while the sample was written).
    pub seen: Option<Level>,
    pub example: String,
}

/// Every built-in audit rule against the events of a log sample, gaps first, then the rules
/// whose requests the sample does not hold.
pub fn sample_coverage(events: &[Value]) -> Vec<SampleCoverage> {
    // By resource alone: the verb a client sends may differ from the rule's example (an exec
    // over WebSocket is a `get`), and policies give levels by resource far more than by verb.
    let shape = |event: &Value| -> (String, String) {
        let text = |pointer: &str| event.pointer(pointer).and_then(Value::as_str).unwrap_or("").to_string();
        (text("/objectRef/resource"), text("/objectRef/subresource"))
    };
    let mut all: Vec<SampleCoverage> = builtin::audit_rule_files()
        .into_iter()
        .filter_map(|file| {
            let needs = level_needed(&file.detection);
            let examples: Vec<&Value> = file.tests.matching.iter().chain(&file.tests.attempt).collect();
            let first = *examples.first()?;
            let shapes: Vec<_> =
                examples.iter().map(|e| shape(e)).filter(|(resource, _)| !resource.is_empty()).collect();
            let seen = events
                .iter()
                .filter(|e| shapes.contains(&shape(e)))
                .filter_map(|e| e.get("level").cloned().and_then(|l| serde_json::from_value::<Level>(l).ok()))
                .min();
            Some(SampleCoverage { rule: file.id, title: file.title, needs, seen, example: describe(first) })
        })
        .collect();
    all.sort_by_key(|c| (c.seen.map_or(1, |seen| if seen >= c.needs { 2 } else { 0 }), c.rule.clone()));
    all
}

fn describe(event: &Value) -> String {
    let text = |pointer: &str| event.pointer(pointer).and_then(Value::as_str).unwrap_or("");
    let mut what = format!("{} {}", text("/verb"), text("/objectRef/resource"));
    if !text("/objectRef/subresource").is_empty() {
        what = format!("{what}/{}", text("/objectRef/subresource"));
    }
    if text("/objectRef/resource").is_empty() {
        what = format!("{} {}", text("/verb"), text("/requestURI"));
    }
    what
}

#[cfg(test)]
mod tests {
    use super::*;

    const TESTBED: &str = include_str!("../../../testbed/audit-policy.yaml");

    #[test]
    fn a_sample_shows_requests_logged_too_thinly_and_says_what_it_never_saw() {
        let events = [
            serde_json::json!({"level": "Metadata", "verb": "create",
                "objectRef": {"resource": "clusterrolebindings", "apiGroup": "rbac.authorization.k8s.io"}}),
            serde_json::json!({"level": "RequestResponse", "verb": "create",
                "objectRef": {"resource": "pods", "subresource": "exec"}}),
        ];
        let all = sample_coverage(&events);
        let of = |rule: &str| all.iter().find(|c| c.rule == rule).unwrap();
        assert_eq!(of("kir-audit-cluster-admin-binding").seen, Some(Level::Metadata));
        assert_eq!(of("kir-audit-exec-into-pod").seen, Some(Level::RequestResponse));
        assert_eq!(of("kir-audit-csr-approved").seen, None);
        assert_eq!(all[0].seen, Some(Level::Metadata), "gaps first: {:?}", all[0]);
    }

    /// The testbed logs ConfigMaps as metadata only, by choice (their values would be in the
    /// log): the one rule that reads ConfigMap bodies cannot fire there, and the check says so.
    #[test]
    fn the_testbed_policy_logs_what_every_rule_reads_but_configmap_bodies() {
        let policy = Policy::parse(TESTBED).unwrap();
        let gaps: Vec<String> = coverage(&policy)
            .into_iter()
            .filter(|c| !c.covered())
            .map(|c| format!("{} needs {:?}, logged {:?} ({})", c.rule, c.needs, c.logged, c.example))
            .collect();
        assert_eq!(
            gaps,
            ["kir-audit-configmap-with-credentials needs Request, logged Metadata (create configmaps)"]
        );
    }

    #[test]
    fn a_metadata_only_policy_loses_the_rules_that_read_bodies() {
        let policy =
            Policy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n").unwrap();
        let all = coverage(&policy);
        let binding = all.iter().find(|c| c.rule == "kir-audit-cluster-admin-binding").unwrap();
        assert!(!binding.covered());
        assert_eq!(
            (binding.needs, binding.logged, binding.decided_by),
            (Level::Request, Level::Metadata, Some(0))
        );
        let exec = all.iter().find(|c| c.rule == "kir-audit-exec-into-pod").unwrap();
        assert!(exec.covered(), "exec is seen in metadata");
        assert!(!all[0].covered(), "gaps come first");
    }

    #[test]
    fn the_first_matching_rule_decides_as_the_api_server_does() {
        let policy = Policy::parse(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n\
             - level: None\n  users: [system:kube-proxy]\n\
             - level: None\n  resources: [{group: \"\", resources: [\"pods/*\"]}]\n  namespaces: [kube-system]\n\
             - level: Request\n  verbs: [create]\n  resources: [{group: rbac.authorization.k8s.io}]\n\
             - level: Metadata\n  nonResourceURLs: [\"/healthz*\"]\n",
        )
        .unwrap();
        let event = |v: Value| policy.level_of(&v);
        let exec = serde_json::json!({"verb": "create", "user": {"username": "eve"},
            "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "kube-system"}});
        assert_eq!(event(exec.clone()), (Level::None, Some(1)));
        let mut elsewhere = exec;
        elsewhere["objectRef"]["namespace"] = "shop".into();
        assert_eq!(event(elsewhere), (Level::None, None), "no rule matches: not logged");
        let binding = serde_json::json!({"verb": "create", "user": {"username": "eve"},
            "objectRef": {"resource": "clusterrolebindings", "apiGroup": "rbac.authorization.k8s.io"}});
        assert_eq!(event(binding), (Level::Request, Some(2)));
        let health =
            serde_json::json!({"verb": "get", "requestURI": "/healthz/ready", "user": {"username": "x"}});
        assert_eq!(event(health), (Level::Metadata, Some(3)));
        assert!(matches!(
            Policy::parse("kind: Deployment\napiVersion: apps/v1\n"),
            Err(PolicyError::NotAPolicy { .. })
        ));
        assert!(matches!(Policy::parse("rules: [\n"), Err(PolicyError::Yaml(_))));
    }
}

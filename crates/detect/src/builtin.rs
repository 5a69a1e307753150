//! The rules kir ships, embedded in the binary as the YAML files under `rules/`.

use crate::{
    audit::{AuditField, AuditFields},
    rule::{Origin, Rule, RuleFile},
    runtime::RuntimeFields,
};

/// Audit-log rules: (file stem, YAML text).
pub const AUDIT_RULE_FILES: &[(&str, &str)] = &[
    ("admission-webhook-changed", include_str!("../rules/audit/admission-webhook-changed.yaml")),
    ("anonymous-request-allowed", include_str!("../rules/audit/anonymous-request-allowed.yaml")),
    ("authorization-failure-burst", include_str!("../rules/audit/authorization-failure-burst.yaml")),
    ("cluster-admin-binding", include_str!("../rules/audit/cluster-admin-binding.yaml")),
    ("configmap-with-credentials", include_str!("../rules/audit/configmap-with-credentials.yaml")),
    ("cronjob-created", include_str!("../rules/audit/cronjob-created.yaml")),
    ("csr-approved", include_str!("../rules/audit/csr-approved.yaml")),
    ("csr-created", include_str!("../rules/audit/csr-created.yaml")),
    ("daemonset-created", include_str!("../rules/audit/daemonset-created.yaml")),
    ("ephemeral-container", include_str!("../rules/audit/ephemeral-container.yaml")),
    ("events-deleted", include_str!("../rules/audit/events-deleted.yaml")),
    ("excessive-capabilities", include_str!("../rules/audit/excessive-capabilities.yaml")),
    ("exec-into-kube-system", include_str!("../rules/audit/exec-into-kube-system.yaml")),
    ("exec-into-pod", include_str!("../rules/audit/exec-into-pod.yaml")),
    ("exec-suspicious-command", include_str!("../rules/audit/exec-suspicious-command.yaml")),
    ("host-namespace-pod", include_str!("../rules/audit/host-namespace-pod.yaml")),
    ("hostpath-pod", include_str!("../rules/audit/hostpath-pod.yaml")),
    (
        "impersonation-of-privileged-identity",
        include_str!("../rules/audit/impersonation-of-privileged-identity.yaml"),
    ),
    ("kubectl-cp", include_str!("../rules/audit/kubectl-cp.yaml")),
    ("many-secrets-read", include_str!("../rules/audit/many-secrets-read.yaml")),
    ("nodeport-service", include_str!("../rules/audit/nodeport-service.yaml")),
    ("nodes-proxy", include_str!("../rules/audit/nodes-proxy.yaml")),
    ("pod-in-system-namespace", include_str!("../rules/audit/pod-in-system-namespace.yaml")),
    ("powerful-role-binding", include_str!("../rules/audit/powerful-role-binding.yaml")),
    ("privileged-pod", include_str!("../rules/audit/privileged-pod.yaml")),
    ("privileged-root-pod", include_str!("../rules/audit/privileged-root-pod.yaml")),
    ("rbac-enumeration", include_str!("../rules/audit/rbac-enumeration.yaml")),
    ("rbac-escalation-verbs", include_str!("../rules/audit/rbac-escalation-verbs.yaml")),
    ("role-aggregated-into-admin", include_str!("../rules/audit/role-aggregated-into-admin.yaml")),
    ("role-grants-pod-exec", include_str!("../rules/audit/role-grants-pod-exec.yaml")),
    ("secret-read-by-scripted-client", include_str!("../rules/audit/secret-read-by-scripted-client.yaml")),
    (
        "secrets-listed-across-namespaces",
        include_str!("../rules/audit/secrets-listed-across-namespaces.yaml"),
    ),
    ("sensitive-hostpath-pod", include_str!("../rules/audit/sensitive-hostpath-pod.yaml")),
    (
        "service-account-in-system-namespace",
        include_str!("../rules/audit/service-account-in-system-namespace.yaml"),
    ),
    ("service-account-token-request", include_str!("../rules/audit/service-account-token-request.yaml")),
    ("system-role-modified", include_str!("../rules/audit/system-role-modified.yaml")),
    ("wildcard-role", include_str!("../rules/audit/wildcard-role.yaml")),
];

/// Runtime-event rules: (file stem, YAML text).
pub const RUNTIME_RULE_FILES: &[(&str, &str)] = &[
    ("api-server-from-pod", include_str!("../rules/runtime/api-server-from-pod.yaml")),
    ("archive-of-collected-data", include_str!("../rules/runtime/archive-of-collected-data.yaml")),
    ("cloud-metadata-access", include_str!("../rules/runtime/cloud-metadata-access.yaml")),
    (
        "execution-from-temporary-directory",
        include_str!("../rules/runtime/execution-from-temporary-directory.yaml"),
    ),
    ("exfiltration-tool", include_str!("../rules/runtime/exfiltration-tool.yaml")),
    ("host-namespace-entry", include_str!("../rules/runtime/host-namespace-entry.yaml")),
    ("interactive-shell-in-container", include_str!("../rules/runtime/interactive-shell-in-container.yaml")),
    ("miner-process", include_str!("../rules/runtime/miner-process.yaml")),
    ("mining-pool-connection", include_str!("../rules/runtime/mining-pool-connection.yaml")),
    ("package-manager-in-container", include_str!("../rules/runtime/package-manager-in-container.yaml")),
    ("sensor-alert", include_str!("../rules/runtime/sensor-alert.yaml")),
    ("tunnel-or-reverse-shell", include_str!("../rules/runtime/tunnel-or-reverse-shell.yaml")),
];

/// Parse a built-in rule file. They are checked by this crate's tests, so a failure here is a
/// bug in kir, not in the user's input.
pub fn parse(name: &str, text: &str) -> RuleFile {
    RuleFile::parse(text, name).unwrap_or_else(|e| panic!("built-in rule {name} is broken: {e}"))
}

/// Every built-in audit rule as written (with its example events).
pub fn audit_rule_files() -> Vec<RuleFile> {
    AUDIT_RULE_FILES.iter().map(|(name, text)| parse(name, text)).collect()
}

/// Every built-in audit rule, compiled.
pub fn audit_rules() -> Vec<Rule<AuditField>> {
    AUDIT_RULE_FILES
        .iter()
        .map(|(name, text)| {
            parse(name, text)
                .compile(&AuditFields, Origin::Builtin)
                .unwrap_or_else(|e| panic!("built-in rule {name} does not compile: {e}"))
        })
        .collect()
}

/// Every built-in runtime rule, compiled.
pub fn runtime_rules() -> Vec<Rule<Vec<String>>> {
    RUNTIME_RULE_FILES
        .iter()
        .map(|(name, text)| {
            parse(name, text)
                .compile(&RuntimeFields, Origin::Builtin)
                .unwrap_or_else(|e| panic!("built-in rule {name} does not compile: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        AuditDetector, audit::AuditRecord, audit_engine::is_attempt, finding::Outcome, matcher::has_wildcard,
        rule::Denied, runtime::RuntimeRecord,
    };
    use kir_audit::Processor;
    use serde_json::Value;

    fn check_file(name: &str, text: &str, prefix: &str) -> RuleFile {
        let file = parse(name, text);
        assert_eq!(file.id, format!("{prefix}{name}"), "rule ids follow their file names");
        assert!(
            !file.tests.matching.is_empty() && !file.tests.no_match.is_empty(),
            "{name} needs both kinds of test"
        );
        assert!(!file.attack.is_empty(), "{name} needs ATT&CK techniques");
        assert!(file.response.starts_with("kir "), "{name}: the response is a kir command");
        file
    }

    /// Every rule's own examples: each `match` event fires it, each `no_match` event does not.
    #[test]
    fn every_builtin_rule_passes_its_own_tests() {
        let mut failures = Vec::new();
        for (name, text) in AUDIT_RULE_FILES {
            let file = parse(name, text);
            assert_eq!(file.id, format!("kir-audit-{name}"), "rule ids follow their file names");
            assert!(
                !file.tests.matching.is_empty() && !file.tests.no_match.is_empty(),
                "{name} needs both kinds of test"
            );
            assert!(!file.attack.is_empty(), "{name} needs ATT&CK techniques");
            assert!(file.response.starts_with("kir "), "{name}: the response is a kir command");
            let rule = file.compile(&AuditFields, Origin::Builtin).unwrap();
            let cases =
                [(&file.tests.matching, true), (&file.tests.attempt, true), (&file.tests.no_match, false)];
            for (kind, (events, expected)) in cases.into_iter().enumerate() {
                for event in events {
                    let json = event.to_string();
                    let mut fired = None;
                    let mut attempt = false;
                    kir_audit::decode(&json, &mut |e, raw, _| {
                        fired = Some(rule.detection.matches(&AuditRecord::new(e, raw)));
                        attempt = is_attempt(e);
                    })
                    .unwrap_or_else(|e| panic!("{name}: test event does not decode: {e}: {json}"));
                    if fired != Some(expected) {
                        failures.push(format!("{name}: expected {expected} for {json}"));
                    }
                    // `attempt` examples are denied or failed; `match` examples are done.
                    if expected && rule.meta.denied == Denied::Attempt && attempt != (kind == 1) {
                        failures.push(format!("{name}: expected attempt={} for {json}", kind == 1));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn every_runtime_rule_passes_its_own_tests() {
        let mut failures = Vec::new();
        for (name, text) in RUNTIME_RULE_FILES {
            let file = check_file(name, text, "kir-runtime-");
            assert!(
                file.response.contains("{pod}"),
                "{name}: runtime findings suggest the compromised-pod playbook"
            );
            let rule = file.compile(&RuntimeFields, Origin::Builtin).unwrap();
            for (events, expected) in [(&file.tests.matching, true), (&file.tests.no_match, false)] {
                for event in events {
                    if rule.detection.matches(&RuntimeRecord::from_value(event.clone())) != expected {
                        failures.push(format!("{name}: expected {expected} for {event}"));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// Every audit rule looks at the answer: each of its examples, denied or failed (403 with
    /// the authorizer's forbid, 401, 404, 409, 422), is never reported as done. It is an
    /// attempt one severity lower, or not reported at all (a rule about allowed requests); a
    /// rule that looks for denials (`denied: signal`) reports them as found.
    #[test]
    fn no_audit_rule_reports_a_denied_or_failed_request_as_done() {
        let mut failures = Vec::new();
        for (name, text) in AUDIT_RULE_FILES {
            let file = parse(name, text);
            let rule = file.compile(&AuditFields, Origin::Builtin).unwrap();
            let (severity, denied) = (rule.meta.severity, rule.meta.denied);
            let detector = AuditDetector::new(vec![rule], None);
            for (code, decision) in
                [(403, "forbid"), (401, ""), (404, "allow"), (409, "allow"), (422, "allow")]
            {
                for example in &file.tests.matching {
                    let mut event = example.clone();
                    event["responseStatus"] = serde_json::json!({"code": code});
                    if !decision.is_empty() {
                        event["annotations"] = serde_json::json!({"authorization.k8s.io/decision": decision});
                    }
                    let mut grouping = detector.grouping();
                    kir_audit::decode(&event.to_string(), &mut |e, raw, format| {
                        let mut hits = Vec::new();
                        detector.event(e, raw, format, &mut hits);
                        hits.into_iter().for_each(|hit| grouping.add(hit));
                    })
                    .unwrap();
                    for finding in detector.findings(grouping) {
                        let expected = match denied {
                            Denied::Attempt => (Some(Outcome::Attempt), severity.lower()),
                            Denied::Signal => (Some(Outcome::Done), severity),
                        };
                        if (finding.outcome, finding.severity) != expected {
                            failures.push(format!(
                                "{name}: {code} reported as {:?} {}: {event}",
                                finding.outcome, finding.severity
                            ));
                        }
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// Values in kir's rules are literal; `*` and `?` are wildcards only under `|glob`. Every
    /// `*` or `?` a built-in rule holds as a plain value is listed here as meant literally (RBAC
    /// writes "all" as `*`), so none slips in meaning "anything".
    const LITERAL_WILDCARD_CHARACTERS: &[(&str, &str, &str)] = &[
        ("kir-audit-role-grants-pod-exec", "requestObject.rules.resources", "pods/*"),
        ("kir-audit-wildcard-role", "requestObject.rules.verbs", "*"),
        ("kir-audit-wildcard-role", "requestObject.rules.resources", "*"),
    ];

    /// Each `(field, value)` of a detection block, with the field's modifiers still on it.
    fn values(detection: &Value, out: &mut Vec<(String, String)>) {
        let Some(map) = detection.as_object() else { return };
        for (name, selection) in map.iter().filter(|(name, _)| *name != "condition") {
            let maps: Vec<&serde_json::Map<String, Value>> = match selection {
                Value::Object(m) => vec![m],
                Value::Array(list) => list.iter().filter_map(Value::as_object).collect(),
                _ => Vec::new(),
            };
            for (field, value) in maps.into_iter().flatten() {
                let list = value.as_array().cloned().unwrap_or_else(|| vec![value.clone()]);
                out.extend(list.iter().filter_map(|v| v.as_str()).map(|v| (field.clone(), v.to_string())));
            }
            if let Value::Array(list) = selection {
                let keywords = list.iter().filter_map(Value::as_str);
                out.extend(keywords.map(|k| (format!("{name} (keyword)"), k.to_string())));
            }
        }
    }

    #[test]
    fn every_wildcard_character_in_a_builtin_rule_is_intended() {
        let mut seen = Vec::new();
        let mut failures = Vec::new();
        for (name, text) in AUDIT_RULE_FILES.iter().chain(RUNTIME_RULE_FILES) {
            let file = parse(name, text);
            let mut found = Vec::new();
            values(&file.detection, &mut found);
            for (field, value) in found {
                let modifiers: Vec<&str> = field.split('|').skip(1).collect();
                if modifiers.contains(&"re") || !value.contains(['*', '?']) {
                    continue;
                }
                if modifiers.contains(&"glob") {
                    assert!(has_wildcard(&value), "{name}: compiling rejects a glob without wildcards");
                    continue;
                }
                let plain = field.split('|').next().unwrap();
                match LITERAL_WILDCARD_CHARACTERS
                    .iter()
                    .position(|l| *l == (file.id.as_str(), plain, value.as_str()))
                {
                    Some(index) => seen.push(index),
                    None => failures.push(format!(
                        "{name}: {field}: {value:?} holds * or ?: mark it |glob, or list it as literal"
                    )),
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        for (index, literal) in LITERAL_WILDCARD_CHARACTERS.iter().enumerate() {
            assert!(seen.contains(&index), "{literal:?} is no longer in its rule: remove it from the list");
        }
    }

    /// The runtime rules use the shared lists (the snapshot findings of kir-respond can import
    /// the same): every miner name, miner argument and pool port fires its rule.
    #[test]
    fn runtime_rules_use_the_shared_miner_and_pool_lists() {
        let rules = runtime_rules();
        let rule = |id: &str| rules.iter().find(|r| r.meta.id == id).unwrap();
        let fires = |id: &str, event: Value| rule(id).detection.matches(&RuntimeRecord::from_value(event));
        let process = |name: &str, args: &str| serde_json::json!({"source": "tetragon", "kind": "exec", "pod": "web", "containerId": "c", "process": {"name": name, "args": args}});
        for name in crate::lists::MINER_PROCESS_NAMES {
            assert!(fires("kir-runtime-miner-process", process(name, "")), "{name}");
        }
        for argument in crate::lists::MINER_ARGUMENTS {
            assert!(
                fires("kir-runtime-miner-process", process("java", &format!("-x {argument}pool"))),
                "{argument}"
            );
        }
        for port in crate::lists::MINING_POOL_PORTS {
            let connect = serde_json::json!({"source": "tetragon", "kind": "connect", "pod": "web", "containerId": "c", "process": {"name": "x", "args": ""}, "connection": {"dstIp": "203.0.113.7", "dstPort": port}});
            assert!(fires("kir-runtime-mining-pool-connection", connect), "{port}");
        }
    }

    /// docs/detect.md lists every built-in rule.
    #[test]
    fn every_rule_is_documented() {
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/detect.md"),
        )
        .unwrap();
        for (name, text) in AUDIT_RULE_FILES.iter().chain(RUNTIME_RULE_FILES) {
            let id = parse(name, text).id;
            assert!(doc.contains(&format!("`{id}`")), "docs/detect.md does not list {id}");
        }
    }

    /// The embedded lists and the folders agree, so no rule file is forgotten.
    #[test]
    fn every_rule_file_is_embedded() {
        for (folder, files) in [("audit", AUDIT_RULE_FILES), ("runtime", RUNTIME_RULE_FILES)] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules").join(folder);
            let mut on_disk: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".yaml").to_string())
                .collect();
            on_disk.sort();
            let embedded: Vec<String> = files.iter().map(|(n, _)| n.to_string()).collect();
            assert_eq!(on_disk, embedded);
        }
    }
}

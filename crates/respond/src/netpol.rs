//! Network containment objects, and why a plain NetworkPolicy may not contain anything.
//!
//! NetworkPolicies are additive: a deny-all policy only removes traffic that no other policy
//! selecting the pod allows. So kir (1) selects the one pod by a unique quarantine label,
//! (2) always creates a deny-all NetworkPolicy, (3) adds a precedence primitive where the
//! cluster has one (Cilium deny rules, AdminNetworkPolicy), and (4) names every existing policy
//! that still lets traffic through.

use k8s_openapi::{
    api::networking::v1::{NetworkPolicy, NetworkPolicySpec},
    apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta},
};
use serde::Serialize;
use serde_json::{Value, json};

use crate::selector::{Labels, selects};

/// The label that marks one quarantined pod; its value is the pod's UID.
pub const QUARANTINE_LABEL: &str = "ir.kir.dev/quarantine";
/// Marks every object kir creates, so they can be listed and removed.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "kir";

/// The name of every containment object of one pod: short, valid, and unique per pod UID.
pub fn quarantine_name(pod_uid: &str) -> String {
    let short: String = pod_uid.chars().filter(|c| c.is_ascii_alphanumeric()).take(12).collect();
    format!("kir-quarantine-{}", short.to_ascii_lowercase())
}

fn quarantine_selector(pod_uid: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some([(QUARANTINE_LABEL.to_string(), pod_uid.to_string())].into()),
        ..Default::default()
    }
}

fn managed_labels(pod_uid: &str) -> Labels {
    [
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
        (QUARANTINE_LABEL.to_string(), pod_uid.to_string()),
    ]
    .into()
}

/// A NetworkPolicy that selects only the quarantined pod and allows nothing in or out.
pub fn deny_all_policy(namespace: &str, pod_name: &str, pod_uid: &str) -> NetworkPolicy {
    NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(quarantine_name(pod_uid)),
            namespace: Some(namespace.to_string()),
            labels: Some(managed_labels(pod_uid)),
            annotations: Some([("ir.kir.dev/pod".to_string(), format!("{namespace}/{pod_name}"))].into()),
            ..Default::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(quarantine_selector(pod_uid)),
            policy_types: Some(vec!["Ingress".to_string(), "Egress".to_string()]),
            ingress: Some(Vec::new()),
            egress: Some(Vec::new()),
        }),
    }
}

/// A CiliumNetworkPolicy whose deny rules win over every allow, including plain
/// NetworkPolicies (Cilium evaluates deny before allow).
pub fn cilium_deny_policy(namespace: &str, pod_name: &str, pod_uid: &str) -> Value {
    json!({
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {
            "name": quarantine_name(pod_uid),
            "namespace": namespace,
            "labels": managed_labels(pod_uid),
            "annotations": {"ir.kir.dev/pod": format!("{namespace}/{pod_name}")},
        },
        "spec": {
            "endpointSelector": {"matchLabels": {QUARANTINE_LABEL: pod_uid}},
            "ingressDeny": [{"fromEntities": ["all"]}],
            "egressDeny": [{"toEntities": ["all"]}],
        },
    })
}

/// An AdminNetworkPolicy (cluster-scoped) at the highest precedence, denying all traffic of
/// the pod; AdminNetworkPolicy rules are evaluated before any NetworkPolicy.
pub fn admin_deny_policy(namespace: &str, pod_name: &str, pod_uid: &str) -> Value {
    json!({
        "apiVersion": "policy.networking.k8s.io/v1alpha1",
        "kind": "AdminNetworkPolicy",
        "metadata": {
            "name": quarantine_name(pod_uid),
            "labels": managed_labels(pod_uid),
            "annotations": {"ir.kir.dev/pod": format!("{namespace}/{pod_name}")},
        },
        "spec": {
            "priority": 0,
            "subject": {"pods": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "podSelector": {"matchLabels": {QUARANTINE_LABEL: pod_uid}},
            }},
            "ingress": [{"name": "kir-quarantine-ingress", "action": "Deny", "from": [{"namespaces": {}}]}],
            "egress": [{
                "name": "kir-quarantine-egress",
                "action": "Deny",
                "to": [{"namespaces": {}}, {"networks": ["0.0.0.0/0", "::/0"]}],
            }],
        },
    })
}

/// Whether a live object's spec is the spec kir generated (`expected` is the whole object kir
/// would create). The API server leaves out the empty fields kir sent (`ingress: []`), which
/// does not make it another spec; anything else does.
pub fn same_spec(expected: &Value, live: &Value) -> bool {
    normalized(&expected["spec"]) == normalized(&live["spec"])
}

/// A value without nulls, empty arrays and empty objects.
fn normalized(value: &Value) -> Value {
    normalized_without(value, &|_, _| false)
}

/// [`normalized`], also without the fields `dropped` names (a key and its value): defaults a
/// server fills in, for instance.
pub(crate) fn normalized_without(value: &Value, dropped: &dyn Fn(&str, &Value) -> bool) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, v)| !dropped(k, v))
                .map(|(k, v)| (k.clone(), normalized_without(v, dropped)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| normalized_without(v, dropped)).collect()),
        other => other.clone(),
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// An existing NetworkPolicy that selects the pod and still allows some traffic, which a
/// deny-all NetworkPolicy cannot take away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AllowingPolicy {
    pub name: String,
    pub allows_ingress: bool,
    pub allows_egress: bool,
}

/// Which policies select a pod with `labels` and allow traffic.
pub fn allowing_policies(policies: &[NetworkPolicy], labels: &Labels) -> Vec<AllowingPolicy> {
    // kir's own quarantine policies allow nothing, so they are never among these; a policy is
    // judged by its rules, not by who claims (in a label) to manage it.
    policies
        .iter()
        .filter_map(|policy| {
            let spec = policy.spec.as_ref()?;
            if !selects(spec.pod_selector.as_ref().unwrap_or(&LabelSelector::default()), labels) {
                return None;
            }
            let (ingress_type, egress_type) = policy_types(spec);
            let allows_ingress = ingress_type && spec.ingress.as_ref().is_some_and(|rules| !rules.is_empty());
            let allows_egress = egress_type && spec.egress.as_ref().is_some_and(|rules| !rules.is_empty());
            (allows_ingress || allows_egress).then(|| AllowingPolicy {
                name: policy.metadata.name.clone().unwrap_or_default(),
                allows_ingress,
                allows_egress,
            })
        })
        .collect()
}

/// Which directions a policy governs: `policyTypes` when given, else Ingress always and
/// Egress when it has egress rules (the API server's defaulting).
fn policy_types(spec: &NetworkPolicySpec) -> (bool, bool) {
    match &spec.policy_types {
        Some(types) if !types.is_empty() => {
            (types.iter().any(|t| t == "Ingress"), types.iter().any(|t| t == "Egress"))
        }
        _ => (true, spec.egress.is_some()),
    }
}

/// What a responder should read when allow policies remain and no precedence primitive exists.
pub fn additive_warning(allowing: &[AllowingPolicy], namespace: &str) -> Option<String> {
    if allowing.is_empty() {
        return None;
    }
    let names: Vec<String> = allowing
        .iter()
        .map(|p| {
            let directions = match (p.allows_ingress, p.allows_egress) {
                (true, true) => "ingress and egress",
                (true, false) => "ingress",
                _ => "egress",
            };
            format!("{namespace}/{} (allows {directions})", p.name)
        })
        .collect();
    Some(format!(
        "NetworkPolicies are additive: the quarantine policy cannot override {}. Traffic they allow still reaches \
         the pod. To really contain it: use a CNI with deny precedence (Cilium deny rules, AdminNetworkPolicy, \
         Calico ordered policies), or edit or delete those policies (kir journals no change to them).",
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::networking::v1::{NetworkPolicyEgressRule, NetworkPolicyIngressRule};

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn policy(name: &str, selector: LabelSelector, spec: NetworkPolicySpec) -> NetworkPolicy {
        NetworkPolicy {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            spec: Some(NetworkPolicySpec { pod_selector: Some(selector), ..spec }),
        }
    }

    #[test]
    fn generated_policies_select_only_the_quarantine_label() {
        let uid = "4f0c2a1e-8b7d-4c3e-9a55-1d2e3f4a5b6c";
        insta::assert_yaml_snapshot!("deny_all_policy", deny_all_policy("shop", "web-7d9f-abcde", uid));
        insta::assert_yaml_snapshot!("cilium_deny_policy", cilium_deny_policy("shop", "web-7d9f-abcde", uid));
        insta::assert_yaml_snapshot!("admin_deny_policy", admin_deny_policy("shop", "web-7d9f-abcde", uid));
        assert_eq!(quarantine_name(uid), "kir-quarantine-4f0c2a1e8b7d");
    }

    #[test]
    fn only_selecting_policies_with_rules_are_reported() {
        let pod = labels(&[("app", "web"), (QUARANTINE_LABEL, "uid-1")]);
        let all = LabelSelector::default();
        let web = LabelSelector { match_labels: Some(labels(&[("app", "web")])), ..Default::default() };
        let db = LabelSelector { match_labels: Some(labels(&[("app", "db")])), ..Default::default() };
        let allow_all_ingress = NetworkPolicySpec {
            ingress: Some(vec![NetworkPolicyIngressRule::default()]),
            ..Default::default()
        };
        let deny_ingress = NetworkPolicySpec { ingress: Some(vec![]), ..Default::default() };
        let allow_egress = NetworkPolicySpec {
            policy_types: Some(vec!["Egress".into()]),
            egress: Some(vec![NetworkPolicyEgressRule::default()]),
            ..Default::default()
        };
        let ingress_rules_but_egress_only = NetworkPolicySpec {
            policy_types: Some(vec!["Egress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule::default()]),
            egress: Some(vec![]),
            ..Default::default()
        };
        // Labelled as kir's, but allowing: still named. kir's own policy allows nothing.
        let mut claimed = policy("claims-kir", all.clone(), allow_all_ingress.clone());
        claimed.metadata.labels = Some(labels(&[(MANAGED_BY_LABEL, MANAGED_BY_VALUE)]));
        let policies = vec![
            policy("allow-all", all.clone(), allow_all_ingress.clone()),
            policy("web-egress", web.clone(), allow_egress),
            policy("db-only", db, allow_all_ingress),
            policy("default-deny", all.clone(), deny_ingress),
            policy("egress-type-only", web, ingress_rules_but_egress_only),
            claimed,
            deny_all_policy("shop", "web", "uid-1"),
        ];
        let found = allowing_policies(&policies, &pod);
        assert_eq!(
            found,
            vec![
                AllowingPolicy { name: "allow-all".into(), allows_ingress: true, allows_egress: false },
                AllowingPolicy { name: "web-egress".into(), allows_ingress: false, allows_egress: true },
                AllowingPolicy { name: "claims-kir".into(), allows_ingress: true, allows_egress: false },
            ]
        );
        let warning = additive_warning(&found, "shop").unwrap();
        assert!(warning.contains("shop/allow-all (allows ingress)"), "{warning}");
        assert!(warning.contains("shop/web-egress (allows egress)"), "{warning}");
        assert!(additive_warning(&[], "shop").is_none());
    }
}

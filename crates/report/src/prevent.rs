//! Preventive controls derived from a case, as reviewable multi-document YAML: nothing here is
//! applied, and every choice says in a comment what in the case it rests on.
//!
//! - a default-deny NetworkPolicy (and a DNS allowance) for each namespace the case involves;
//! - Pod Security Admission labels for those namespaces: `restricted`, or `baseline` (with
//!   `restricted` warned and audited) when a captured pod of the namespace would be refused by
//!   `restricted`;
//! - a ValidatingAdmissionPolicy admitting only images from the registries the captured pods used;
//! - RBAC reductions for dangerous reach the captured service-account permissions show (comments);
//! - audit-policy rules for the audit evidence the case could not collect (comments).
//!
//! Names from the case go into objects only when they are valid Kubernetes names; everything
//! from the case that goes into a comment is kept on one line.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::rbac::v1::PolicyRule;
use kir_image::{ImageRef, Pattern, admission};
use serde_json::{Value, json};

use crate::{CaseSource, escape::yaml_comment};

/// The name of the image allowlist policy and its binding.
const ALLOWLIST_NAME: &str = "kir-allowed-registries";

/// Capabilities the baseline Pod Security Standard lets a container add.
const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// The preventive controls of `source` as YAML documents, for case `case_id`.
pub fn render(source: &CaseSource) -> String {
    let case_id = source.metadata.as_ref().map(|m| m.id.clone()).unwrap_or_default();
    let case_label = if valid_label_value(&case_id) { case_id.clone() } else { "unknown".to_string() };
    let pods = captured_pods(source);
    let mut out = String::new();
    if !source.integrity.intact {
        comment(
            &mut out,
            "WARNING: this case does not verify: what these controls rest on may have been altered (run kir case verify).",
        );
    }
    comment(&mut out, &format!("Preventive controls derived from kir case {case_id}."));
    comment(
        &mut out,
        "Review every document before applying it (kubectl apply --dry-run=server -f FILE); nothing here was applied.",
    );
    rbac_suggestions(&mut out, source);
    audit_suggestions(&mut out, source);

    let namespaces = involved_namespaces(source, &pods);
    if namespaces.is_empty() {
        comment(
            &mut out,
            "The case involves no namespace (no captured pod, no pod target): no NetworkPolicy or Pod Security labels.",
        );
    }
    for namespace in &namespaces {
        network_policies(&mut out, namespace, &case_label);
        pod_security(&mut out, namespace, pods.iter().filter(|pod| pod.namespace == *namespace));
    }
    image_policy(&mut out, &pods, &namespaces, &case_label);
    out
}

fn comment(out: &mut String, text: &str) {
    out.push('#');
    if !text.is_empty() {
        out.push(' ');
        out.push_str(&yaml_comment(text));
    }
    out.push('\n');
}

fn document(out: &mut String, comments: &[String], object: &Value) {
    out.push_str("---\n");
    for line in comments {
        comment(out, line);
    }
    // Values of strings, numbers and maps with string keys always serialise.
    out.push_str(&serde_saphyr::to_string(object).expect("YAML of JSON values"));
    if !out.ends_with('\n') {
        out.push('\n');
    }
}

/// A captured pod: where it is in the case and what it was.
struct CapturedPod<'a> {
    path: &'a str,
    namespace: String,
    name: String,
    object: &'a Value,
}

fn captured_pods(source: &CaseSource) -> Vec<CapturedPod<'_>> {
    source
        .documents_where(|path| path.ends_with("/pod.json"))
        .filter_map(|(path, object)| {
            let text = |pointer: &str| {
                object.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_string()
            };
            let namespace = text("/metadata/namespace");
            valid_dns_label(&namespace).then(|| CapturedPod {
                path,
                namespace,
                name: text("/metadata/name"),
                object,
            })
        })
        .collect()
}

/// An RFC 1123 label: what a namespace name is.
fn valid_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// A label value: at most 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends.
fn valid_label_value(value: &str) -> bool {
    value.len() <= 63
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && value.bytes().next().is_none_or(|b| b.is_ascii_alphanumeric())
        && value.bytes().last().is_none_or(|b| b.is_ascii_alphanumeric())
}

/// The namespaces of captured pods and of pods the journal names as targets (`pod/NS/NAME`,
/// `pod NS/NAME`).
fn involved_namespaces(source: &CaseSource, pods: &[CapturedPod<'_>]) -> BTreeSet<String> {
    let mut namespaces: BTreeSet<String> = pods.iter().map(|pod| pod.namespace.clone()).collect();
    for entry in &source.entries {
        let Some(target) = entry.target.as_deref() else { continue };
        let Some(rest) = target.strip_prefix("pod/").or_else(|| target.strip_prefix("pod ")) else {
            continue;
        };
        if let Some((namespace, _)) = rest.split_once('/').filter(|(ns, _)| valid_dns_label(ns)) {
            namespaces.insert(namespace.to_string());
        }
    }
    namespaces
}

fn managed(name: &str, namespace: Option<&str>, case_label: &str) -> Value {
    let mut metadata = json!({
        "name": name,
        "labels": { admission::MANAGED_BY_LABEL: "kir", admission::CASE_LABEL: case_label },
    });
    if let Some(namespace) = namespace {
        metadata["namespace"] = json!(namespace);
    }
    metadata
}

fn network_policies(out: &mut String, namespace: &str, case_label: &str) {
    document(
        out,
        &[
            format!("Default deny for namespace {namespace}, which the case involves: no pod in it receives or sends traffic"),
            "that another NetworkPolicy does not allow. Add allow policies for what its workloads need before applying.".into(),
        ],
        &json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": managed("kir-default-deny", Some(namespace), case_label),
            "spec": { "podSelector": {}, "policyTypes": ["Ingress", "Egress"] },
        }),
    );
    document(
        out,
        &[format!("DNS stays allowed in namespace {namespace}: to the cluster DNS in kube-system, port 53.")],
        &json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": managed("kir-allow-dns", Some(namespace), case_label),
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{
                    "to": [{
                        "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "kube-system" } },
                        "podSelector": { "matchLabels": { "k8s-app": "kube-dns" } },
                    }],
                    "ports": [{ "protocol": "UDP", "port": 53 }, { "protocol": "TCP", "port": 53 }],
                }],
            },
        }),
    );
}

/// What the baseline and the restricted Pod Security Standards would refuse in a pod.
#[derive(Default)]
struct Refusals {
    baseline: Vec<String>,
    restricted: Vec<String>,
}

fn refusals(pod: &Value) -> Refusals {
    let mut found = Refusals::default();
    let spec = pod.get("spec").cloned().unwrap_or_default();
    let flag = |value: &Value, pointer: &str| value.pointer(pointer).and_then(Value::as_bool);
    for host in ["hostNetwork", "hostPID", "hostIPC"] {
        if flag(&spec, &format!("/{host}")) == Some(true) {
            found.baseline.push(host.to_string());
        }
    }
    for volume in spec.get("volumes").and_then(Value::as_array).into_iter().flatten() {
        if volume.get("hostPath").is_some() {
            found.baseline.push("a hostPath volume".into());
        }
    }
    let pod_non_root = flag(&spec, "/securityContext/runAsNonRoot") == Some(true);
    let pod_seccomp = spec.pointer("/securityContext/seccompProfile/type").and_then(Value::as_str);
    let containers = ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .filter_map(|field| spec.get(*field).and_then(Value::as_array))
        .flatten();
    for container in containers {
        let name = container.get("name").and_then(Value::as_str).unwrap_or_default();
        let context = container.get("securityContext").cloned().unwrap_or_default();
        if flag(&context, "/privileged") == Some(true) {
            found.baseline.push(format!("container {name} is privileged"));
        }
        let mut ports = container.get("ports").and_then(Value::as_array).into_iter().flatten();
        if ports.any(|p| p.get("hostPort").and_then(Value::as_i64).is_some_and(|port| port != 0)) {
            found.baseline.push(format!("container {name} uses a host port"));
        }
        let capabilities = |list: &str| -> Vec<String> {
            context
                .pointer(&format!("/capabilities/{list}"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        };
        let added = capabilities("add");
        if added.iter().any(|c| !BASELINE_CAPABILITIES.contains(&c.as_str())) {
            found.baseline.push(format!("container {name} adds capabilities {}", added.join(", ")));
        } else if added.iter().any(|c| c != "NET_BIND_SERVICE") {
            found.restricted.push(format!("container {name} adds capabilities {}", added.join(", ")));
        }
        if !capabilities("drop").iter().any(|c| c == "ALL") {
            found.restricted.push(format!("container {name} does not drop ALL capabilities"));
        }
        if flag(&context, "/allowPrivilegeEscalation") != Some(false) {
            found.restricted.push(format!("container {name} allows privilege escalation"));
        }
        if !(pod_non_root || flag(&context, "/runAsNonRoot") == Some(true)) {
            found.restricted.push(format!("container {name} may run as root (no runAsNonRoot)"));
        }
        let seccomp = context.pointer("/seccompProfile/type").and_then(Value::as_str).or(pod_seccomp);
        if !matches!(seccomp, Some("RuntimeDefault" | "Localhost")) {
            found.restricted.push(format!("container {name} has no RuntimeDefault seccomp profile"));
        }
    }
    found
}

fn pod_security<'a>(out: &mut String, namespace: &str, pods: impl Iterator<Item = &'a CapturedPod<'a>>) {
    let mut notes = Vec::new();
    let mut restricted_refuses = false;
    for pod in pods {
        let refused = refusals(pod.object);
        if !refused.baseline.is_empty() {
            restricted_refuses = true;
            notes.push(format!(
                "pod {namespace}/{} ({}) needs privileges baseline refuses too: {}; a new pod like it would be refused, so exempt a workload that truly needs them deliberately",
                pod.name,
                pod.path,
                refused.baseline.join("; ")
            ));
        }
        if !refused.restricted.is_empty() {
            restricted_refuses = true;
            let shown: Vec<&String> = refused.restricted.iter().take(4).collect();
            notes.push(format!(
                "pod {namespace}/{} would be refused by restricted: {}",
                pod.name,
                shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("; ")
            ));
        }
    }
    let (level, why) = if restricted_refuses {
        (
            "baseline",
            format!(
                "Pod Security for namespace {namespace}: enforce baseline, warn and audit restricted, because captured pods would be refused by restricted:"
            ),
        )
    } else {
        (
            "restricted",
            format!(
                "Pod Security for namespace {namespace}: enforce restricted (no captured pod of it would be refused)."
            ),
        )
    };
    let mut comments = vec![why];
    comments.extend(notes);
    comments.push(
        "Enforcement applies to pods created after the labels are set; running pods are not evicted.".into(),
    );
    document(
        out,
        &comments,
        &json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": namespace,
                "labels": {
                    "pod-security.kubernetes.io/enforce": level,
                    "pod-security.kubernetes.io/enforce-version": "latest",
                    "pod-security.kubernetes.io/warn": "restricted",
                    "pod-security.kubernetes.io/audit": "restricted",
                },
            },
        }),
    );
}

fn image_policy(out: &mut String, pods: &[CapturedPod<'_>], namespaces: &BTreeSet<String>, case_label: &str) {
    let mut registries: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut unreadable = Vec::new();
    for pod in pods {
        let images = ["containers", "initContainers", "ephemeralContainers"]
            .iter()
            .filter_map(|field| pod.object.pointer(&format!("/spec/{field}")).and_then(Value::as_array))
            .flatten()
            .filter_map(|c| c.get("image").and_then(Value::as_str));
        for image in images {
            match ImageRef::parse(image) {
                Ok(reference) => {
                    registries.entry(reference.registry().to_string()).or_default().insert(image.to_string());
                }
                Err(_) => unreadable.push(image.to_string()),
            }
        }
    }
    let patterns: Vec<Pattern> =
        registries.keys().filter_map(|registry| Pattern::parse(&format!("{registry}/")).ok()).collect();
    if patterns.is_empty() {
        comment(out, "No image policy: the case holds no captured pod with an image reference.");
        return;
    }
    let mut comments = vec![
        "Image policy: admit only images from the registries the case's captured pods used:".to_string(),
    ];
    for (registry, images) in &registries {
        let listed: Vec<&str> = images.iter().take(5).map(String::as_str).collect();
        comments.push(format!("  {registry}: {}", listed.join(", ")));
    }
    comments.push("The suspect's registry is among them: remove a registry that served a bad image, or narrow it to a path.".into());
    for image in unreadable.iter().take(5) {
        comments.push(format!("not a valid image reference, left out: {image}"));
    }
    document(out, &comments, &admission::allowed_images_policy(&patterns, ALLOWLIST_NAME, case_label));
    // Bound to the namespaces of the case only: system workloads elsewhere pull from registries
    // the case never saw.
    let mut binding = admission::policy_binding(ALLOWLIST_NAME, case_label);
    binding["spec"]["matchResources"] = json!({
        "namespaceSelector": {
            "matchExpressions": [{
                "key": "kubernetes.io/metadata.name",
                "operator": "In",
                "values": namespaces.iter().collect::<Vec<_>>(),
            }],
        },
    });
    document(
        out,
        &["The binding that makes the image policy deny, in the namespaces of the case only.".to_string()],
        &binding,
    );
}

/// Dangerous reach in the service-account permissions the case captured, as comments.
fn rbac_suggestions(out: &mut String, source: &CaseSource) {
    for (path, captured) in source.documents_where(|path| path.ends_with("/serviceaccount-permissions.json"))
    {
        let user = captured.get("user").and_then(Value::as_str).unwrap_or("the service account");
        let namespace = captured.get("namespace").and_then(Value::as_str);
        let rules = captured
            .pointer("/review/resourceRules")
            .or_else(|| captured.pointer("/review/status/resourceRules"))
            .and_then(Value::as_array);
        let mut found = BTreeSet::new();
        for rule in rules.into_iter().flatten().take(500) {
            let Ok(rule) = serde_json::from_value::<PolicyRule>(rule.clone()) else { continue };
            for danger in kir_rbac::danger(&rule, namespace) {
                let resources = rule.resources.clone().unwrap_or_default().join(",");
                found.insert(format!(
                    "{} ({:?}): verbs {} on {}",
                    danger.label,
                    danger.severity,
                    rule.verbs.join(","),
                    if resources.is_empty() { "-".into() } else { resources }
                ));
            }
        }
        if found.is_empty() {
            continue;
        }
        comment(out, "");
        comment(out, &format!("RBAC reduction for {user} (from evidence/{path}): it may"));
        for line in found.iter().take(20) {
            comment(out, &format!("  - {line}"));
        }
        comment(
            out,
            "  Suggestion: remove these rules from the roles bound to it (`kir creds scope SUBJECT` names the bindings),",
        );
        comment(
            out,
            "  bind a role with only what the workload uses, and set automountServiceAccountToken: false",
        );
        comment(out, "  on pods that never call the API.");
    }
}

/// Audit-policy rules for what the case could not collect from an audit log, as comments.
fn audit_suggestions(out: &mut String, source: &CaseSource) {
    let gaps: Vec<&crate::Gap> = source
        .gaps
        .iter()
        .filter(|gap| {
            [&gap.path, &gap.source, &gap.reason].iter().any(|t| t.to_ascii_lowercase().contains("audit"))
        })
        .collect();
    comment(out, "");
    if gaps.is_empty() {
        comment(
            out,
            "Audit policy: the case records no audit-log gap, so no audit-policy lines are suggested.",
        );
        return;
    }
    comment(out, "Audit policy: the case records audit evidence it could not collect:");
    for gap in gaps.iter().take(10) {
        comment(out, &format!("  - {}: {}", gap.path, gap.reason));
    }
    comment(
        out,
        "Add these rules to the API server's audit policy (--audit-policy-file), before its catch-all rule:",
    );
    for line in [
        "- level: RequestResponse",
        "  resources:",
        "  - group: \"\"",
        "    resources: [\"pods/exec\", \"pods/attach\", \"pods/portforward\", \"pods/ephemeralcontainers\"]",
        "- level: Metadata",
        "  resources:",
        "  - group: \"\"",
        "    resources: [\"secrets\", \"serviceaccounts/token\"]",
        "- level: RequestResponse",
        "  resources:",
        "  - group: \"rbac.authorization.k8s.io\"",
        "  - group: \"admissionregistration.k8s.io\"",
        "  - group: \"networking.k8s.io\"",
    ] {
        comment(out, &format!("  {line}"));
    }
}

//! The facts, renderings and drift of one small cluster, with hostile names in it.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use kir_rbac::RbacSnapshot;

use crate::*;

const HOSTILE: &str = "x\"] -> internet; <script>|[a](b)\n\\N";

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn workload(kind: &str, namespace: &str, name: &str, app: &str) -> Workload {
    Workload {
        kind: kind.into(),
        namespace: namespace.into(),
        name: name.into(),
        service_account: "default".into(),
        labels: labels(&[("app", app)]),
        images: vec![format!("registry.example/{app}:1")],
        replicas: (kind == "Deployment").then_some(2),
        host: HostAccess::default(),
    }
}

fn service(namespace: &str, name: &str, kind: &str, app: &str) -> Service {
    Service {
        namespace: namespace.into(),
        name: name.into(),
        kind: kind.into(),
        selector: labels(&[("app", app)]),
        ports: vec![ServicePort {
            port: 80,
            node_port: (kind != "ClusterIP").then_some(30080),
            protocol: "TCP".into(),
        }],
        external: vec![],
    }
}

fn policy(
    namespace: &str,
    name: &str,
    selects_all: bool,
    types: &[&str],
    ingress_rules: usize,
) -> NetworkPolicy {
    NetworkPolicy {
        namespace: namespace.into(),
        name: name.into(),
        selects_all,
        policy_types: types.iter().map(|t| t.to_string()).collect(),
        ingress_rules,
        egress_rules: 0,
    }
}

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    let strings = |items: &[&str]| Some(items.iter().map(|i| i.to_string()).collect());
    PolicyRule {
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        api_groups: strings(groups),
        resources: strings(resources),
        ..Default::default()
    }
}

fn subject(kind: &str, name: &str, namespace: Option<&str>) -> Subject {
    Subject {
        kind: kind.into(),
        name: name.into(),
        namespace: namespace.map(str::to_string),
        ..Default::default()
    }
}

fn meta(name: &str, namespace: Option<&str>) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        name: Some(name.into()),
        namespace: namespace.map(str::to_string),
        ..Default::default()
    }
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef { api_group: "rbac.authorization.k8s.io".into(), kind: kind.into(), name: name.into() }
}

fn rbac() -> RbacSnapshot {
    RbacSnapshot {
        cluster_roles: vec![
            ClusterRole {
                metadata: meta("cluster-admin", None),
                rules: Some(vec![rule(&["*"], &["*"], &["*"])]),
                ..Default::default()
            },
            ClusterRole {
                metadata: meta("view", None),
                rules: Some(vec![rule(&["get", "list"], &[""], &["pods"])]),
                ..Default::default()
            },
        ],
        roles: vec![Role {
            metadata: meta("secret-reader", Some("shop")),
            rules: Some(vec![rule(&["get"], &[""], &["secrets"])]),
        }],
        cluster_role_bindings: vec![
            ClusterRoleBinding {
                metadata: meta("cluster-admin", None),
                role_ref: role_ref("ClusterRole", "cluster-admin"),
                subjects: Some(vec![subject("Group", "system:masters", None)]),
            },
            ClusterRoleBinding {
                metadata: meta("intruder", None),
                role_ref: role_ref("ClusterRole", "cluster-admin"),
                subjects: Some(vec![subject("ServiceAccount", "intruder", Some("open"))]),
            },
            ClusterRoleBinding {
                metadata: meta("viewers", None),
                role_ref: role_ref("ClusterRole", "view"),
                subjects: Some(vec![subject("Group", "viewers", None)]),
            },
        ],
        role_bindings: vec![RoleBinding {
            metadata: meta("read-secrets", Some("shop")),
            role_ref: role_ref("Role", "secret-reader"),
            subjects: Some(vec![subject("User", HOSTILE, None)]),
        }],
    }
}

fn observed() -> Observed {
    let mut agent = workload("DaemonSet", "kube-system", "agent", "agent");
    agent.host.host_paths = vec!["/var/run".into()];
    agent.host.host_network = true;
    let mut miner = workload("Pod", "open", "miner", "miner");
    miner.host.privileged = vec!["main".into()];
    miner.host.host_pid = true;
    Observed {
        taken_at: "2026-01-01T00:00:00Z".into(),
        cluster: ClusterInfo {
            server: "https://127.0.0.1:6443".into(),
            context: Some("testbed".into()),
            version: Some("v1.33.0".into()),
        },
        namespace: None,
        namespaces: ["shop", "open", "kube-system", HOSTILE]
            .iter()
            .map(|n| Namespace { name: n.to_string(), labels: BTreeMap::new() })
            .collect(),
        workloads: vec![
            workload("Deployment", "shop", "web", "web"),
            workload("Deployment", "shop", "api", "api"),
            agent,
            miner,
            workload("Deployment", HOSTILE, HOSTILE, "hostile"),
        ],
        services: vec![
            service("shop", "web", "NodePort", "web"),
            service("shop", "internal", "ClusterIP", "api"),
            service(HOSTILE, HOSTILE, "LoadBalancer", "hostile"),
        ],
        ingresses: vec![Ingress {
            namespace: "shop".into(),
            name: "site".into(),
            class: Some("nginx".into()),
            hosts: vec!["shop.example".into()],
            backends: vec!["internal".into()],
            tls: true,
        }],
        gateways: vec![],
        http_routes: vec![],
        network_policies: vec![
            policy("shop", "default-deny", true, &["Ingress", "Egress"], 0),
            policy("open", "allow-web", false, &["Ingress"], 1),
            policy("open", "allow-all", true, &["Ingress"], 1),
        ],
        nodes: vec![Node {
            name: "node-1".into(),
            roles: vec!["control-plane".into()],
            kubelet_version: "v1.33.0".into(),
            os_image: "Debian".into(),
            container_runtime: "containerd://2.0".into(),
            addresses: vec!["InternalIP 10.0.0.1".into()],
            ready: true,
            unschedulable: false,
        }],
        gaps: vec![],
        not_served: vec!["gateways.gateway.networking.k8s.io".into()],
    }
}

fn inventory() -> Inventory {
    assemble(observed(), &rbac())
}

#[test]
fn coverage_needs_an_all_pods_policy_without_rules() {
    let inventory = inventory();
    let of = |ns: &str| inventory.facts.coverage.iter().find(|c| c.namespace == ns).unwrap().clone();
    let shop = of("shop");
    assert!(shop.default_deny_ingress && shop.default_deny_egress);
    let open = of("open");
    assert_eq!(open.policies, 2);
    assert!(!open.default_deny_ingress && !open.default_deny_egress, "allow-all has a rule");
    assert!(!of("kube-system").default_deny_ingress);
}

#[test]
fn host_access_names_each_way_to_the_node() {
    let inventory = inventory();
    let reaches: Vec<(&str, Vec<&str>)> = inventory
        .facts
        .host_access
        .iter()
        .map(|h| (h.workload.as_str(), h.reasons.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        reaches,
        [
            ("DaemonSet/kube-system/agent", vec!["hostPath /var/run", "hostNetwork"]),
            ("Pod/open/miner", vec!["privileged container main", "hostPID"]),
        ]
    );
}

#[test]
fn admins_and_secret_readers_come_from_rbac_evaluation() {
    let inventory = inventory();
    let admins: Vec<String> = inventory.facts.admins.iter().map(Holder::key).collect();
    assert_eq!(
        admins,
        [
            "Group:system:masters in the cluster via ClusterRoleBinding/cluster-admin",
            "ServiceAccount:open/intruder in the cluster via ClusterRoleBinding/intruder",
        ]
    );
    let readers: Vec<(String, Option<String>)> =
        inventory.facts.secret_readers.iter().map(|h| (h.subject.clone(), h.namespace.clone())).collect();
    assert!(readers.contains(&("ServiceAccount:open/intruder".into(), None)));
    assert!(readers.contains(&(format!("User:{HOSTILE}"), Some("shop".into()))));
    assert!(!readers.iter().any(|(s, _)| s == "Group:viewers"), "view reads pods only");
}

#[test]
fn exposure_follows_selectors_and_ingress_backends() {
    let inventory = inventory();
    let exposures: Vec<(String, Vec<String>)> =
        inventory.facts.exposures.iter().map(|e| (e.key(), e.workloads.clone())).collect();
    assert!(exposures.contains(&("NodePort/shop/web".into(), vec!["Deployment/shop/web".into()])));
    assert!(exposures.contains(&("Ingress/shop/site".into(), vec!["Deployment/shop/api".into()])));
    assert!(!exposures.iter().any(|(key, _)| key.contains("internal")), "ClusterIP is not an exposure");
}

#[test]
fn one_namespace_keeps_its_own_and_cluster_wide_holders() {
    let mut observed = observed();
    observed.namespace = Some("open".into());
    let inventory = assemble(observed, &rbac());
    assert!(inventory.facts.secret_readers.iter().all(|h| h.namespace.is_none()));
    assert!(inventory.rbac.bindings.iter().all(|b| b.namespace.is_none()));
}

#[test]
fn a_section_whose_source_was_not_read_says_so() {
    let mut observed = observed();
    observed.gaps.push(Gap {
        kind: "clusterrolebindings.rbac.authorization.k8s.io".into(),
        reason: "forbidden".into(),
    });
    let text = markdown(&assemble(observed, &RbacSnapshot::default()));
    let admins = &text[text.find("## Cluster admins").unwrap()..text.find("## Workloads").unwrap()];
    assert_eq!(
        admins
            .matches(
                "**Incomplete**: clusterrolebindings\\.rbac\\.authorization\\.k8s\\.io could not be read."
            )
            .count(),
        2
    );
    let workloads = &text[text.find("## Workloads").unwrap()..];
    assert!(!workloads[..200].contains("Incomplete"));
    assert!(text.contains("## Not read (the inventory is incomplete)"));
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!(markdown(&inventory()));
}

#[test]
fn json_snapshot() {
    insta::assert_snapshot!(serde_json::to_string_pretty(&inventory()).unwrap());
}

#[test]
fn dot_snapshot() {
    insta::assert_snapshot!(dot(&inventory()));
}

#[test]
fn svg_snapshot() {
    insta::assert_snapshot!(svg(&inventory()));
}

#[test]
fn a_saved_inventory_reads_back_the_same() {
    let inventory = inventory();
    let saved = serde_json::to_vec(&inventory).unwrap();
    assert_eq!(parse(&saved).unwrap(), inventory);
}

#[test]
fn what_is_not_an_inventory_is_said() {
    assert!(matches!(parse(b"not json"), Err(Error::NotJson(_))));
    let error = parse(br#"{"kind": "Pod"}"#).unwrap_err();
    assert_eq!(
        error.to_string(),
        "not a kir inventory (its \"schema\" is None, not \"kir.dev/inventory/v1\")"
    );
    let error = parse(br#"{"schema": "kir.dev/inventory/v1", "takenAt": 3}"#).unwrap_err();
    assert!(matches!(error, Error::Malformed(_)), "{error}");
}

fn changed() -> Inventory {
    let mut observed = observed();
    observed.taken_at = "2026-01-02T00:00:00Z".into();
    observed.namespaces.push(Namespace { name: "new".into(), labels: BTreeMap::new() });
    observed.workloads.retain(|w| w.name != "miner");
    observed.workloads[0].images = vec!["registry.example/web:2".into()];
    observed.network_policies.retain(|p| p.name != "default-deny");
    let mut rbac = rbac();
    rbac.cluster_role_bindings.retain(|b| b.metadata.name.as_deref() != Some("intruder"));
    assemble(observed, &rbac)
}

#[test]
fn drift_is_exactly_what_changed() {
    let drift = diff(&inventory(), &changed());
    let changes: Vec<(Topic, ChangeKind, &str)> =
        drift.changes.iter().map(|c| (c.topic, c.kind, c.item.as_str())).collect();
    assert_eq!(
        changes,
        [
            (Topic::Namespace, ChangeKind::Added, "new"),
            (Topic::Workload, ChangeKind::Removed, "Pod/open/miner"),
            (Topic::Workload, ChangeKind::Changed, "Deployment/shop/web"),
            (Topic::HostAccess, ChangeKind::Removed, "Pod/open/miner"),
            (
                Topic::Admin,
                ChangeKind::Removed,
                "ServiceAccount:open/intruder in the cluster via ClusterRoleBinding/intruder"
            ),
            (
                Topic::SecretReader,
                ChangeKind::Removed,
                "ServiceAccount:open/intruder in the cluster via ClusterRoleBinding/intruder"
            ),
            (Topic::PolicyCoverage, ChangeKind::Added, "new"),
            (Topic::PolicyCoverage, ChangeKind::Changed, "shop"),
        ]
    );
    assert!(diff(&inventory(), &inventory()).changes.is_empty());
}

#[test]
fn drift_snapshots() {
    let drift = diff(&inventory(), &changed());
    insta::assert_snapshot!("drift_markdown", drift_markdown(&drift));
    insta::assert_snapshot!("drift_json", serde_json::to_string_pretty(&drift).unwrap());
}
